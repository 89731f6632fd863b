"""LibreOffice headless for the office formats (docx and odt to PDF, and between
each other).

Each conversion gets a private user profile, HOME and TMPDIR inside its job
directory (so conversions never share state or lock each other out), runs in a new
session with a memory limit and, where the host allows, in a network namespace of its
own, and is killed with its whole process tree when it overruns. A semaphore bounds
how many run at once in this worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psutil

from services.ingest.worker.documents.errors import ConverterUnavailable, DocumentRejected
from services.ingest.worker.documents.kinds import DocumentKind
from shared.log import get_logger

log = get_logger("services.ingest.worker.documents")

DEBIAN_PACKAGE = "libreoffice-writer-nogui"
_FALLBACK_PATHS = ("/usr/lib/libreoffice/program/soffice", "/opt/libreoffice/program/soffice")
# LibreOffice's export filter for each pair it converts.
FILTERS: dict[tuple[DocumentKind, DocumentKind], str] = {
    (DocumentKind.DOCX, DocumentKind.PDF): "pdf:writer_pdf_Export",
    (DocumentKind.ODT, DocumentKind.PDF): "pdf:writer_pdf_Export",
    (DocumentKind.DOCX, DocumentKind.ODT): "odt:writer8",
    (DocumentKind.ODT, DocumentKind.DOCX): "docx:MS Word 2007 XML",
}
_STDERR_TAIL = 400
_VERSION_TIMEOUT = 20.0


def find_soffice(configured: str | None = None) -> str | None:
    """The soffice executable: the configured one, on PATH, or in the usual places."""
    if configured:
        return configured if os.access(configured, os.X_OK) else shutil.which(configured)
    for name in ("soffice", "libreoffice"):
        if found := shutil.which(name):
            return found
    return next((p for p in _FALLBACK_PATHS if os.access(p, os.X_OK)), None)


def _environment(home: Path, tmp: Path) -> dict[str, str]:
    """What LibreOffice needs, and nothing of the worker's (no credentials)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "SAL_USE_VCLPLUGIN": "svp",
    }


def kill_tree(pid: int) -> None:
    """SIGKILL a process, its process group and every descendant (even one that
    started a session of its own)."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for process in descendants:
        with contextlib.suppress(psutil.Error):
            process.kill()


class LibreOffice:
    def __init__(
        self,
        binary: str | None,
        *,
        concurrency: int,
        memory_bytes: int,
        isolation_prefix: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self._slots = asyncio.Semaphore(concurrency)
        self._memory_bytes = memory_bytes
        # ``unshare --net --`` where the host allows (see :mod:`.isolation`).
        self.isolation_prefix: tuple[str, ...] = tuple(isolation_prefix)

    @property
    def available(self) -> bool:
        return self.binary is not None

    async def version(self) -> str | None:
        """LibreOffice's version (``7.4.7.2``), or None if it does not run."""
        if self.binary is None:
            return None
        with tempfile.TemporaryDirectory(prefix="quarry-office-version-") as home:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                "--version",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=_environment(Path(home), Path(home)),
                start_new_session=True,
            )
            try:
                output, _ = await asyncio.wait_for(process.communicate(), _VERSION_TIMEOUT)
            except TimeoutError:
                return None
            finally:
                kill_tree(process.pid)
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
        words = output.decode(errors="replace").split()
        if process.returncode != 0 or len(words) < 2 or not words[1][:1].isdigit():
            return None
        return words[1]

    async def convert(
        self,
        source: Path,
        source_kind: DocumentKind,
        target_kind: DocumentKind,
        workdir: Path,
        *,
        timeout: float,
    ) -> Path:
        """The converted file, inside ``workdir``."""
        export = FILTERS.get((source_kind, target_kind))
        if export is None:
            raise DocumentRejected(f"LibreOffice does not convert {source_kind} to {target_kind}")
        if self.binary is None:
            raise ConverterUnavailable(
                f"LibreOffice is not installed (Debian package {DEBIAN_PACKAGE})"
            )
        # A fixed name: the owner's file name never reaches a command line.
        staged = workdir / f"input.{source_kind.extension}"
        if not staged.exists():
            shutil.copyfile(source, staged)
        outdir = workdir / "office-out"
        for name in ("office-profile", "office-home", "office-tmp", "office-out"):
            (workdir / name).mkdir(exist_ok=True)
        async with self._slots:
            await self._run(export, staged, outdir, workdir, timeout)
        produced = outdir / f"input.{target_kind.extension}"
        if not produced.is_file() or produced.stat().st_size == 0:
            raise DocumentRejected(
                f"LibreOffice could not convert the {source_kind} document "
                "(damaged, or not really a document of that kind)"
            )
        return produced

    async def _run(
        self, export: str, staged: Path, outdir: Path, workdir: Path, timeout: float
    ) -> None:
        assert self.binary is not None
        command = [
            *self.isolation_prefix,
            "prlimit",
            f"--as={self._memory_bytes}",
            "--core=0",
            "--",
            self.binary,
            "--headless",
            "--invisible",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            "--norestore",
            f"-env:UserInstallation={(workdir / 'office-profile').as_uri()}",
            "--convert-to",
            export,
            "--outdir",
            str(outdir),
            str(staged),
        ]
        environment = _environment(workdir / "office-home", workdir / "office-tmp")
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=workdir,
            env=environment,
            start_new_session=True,
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            log.warning("office_conversion_timed_out", timeout_seconds=timeout)
            raise DocumentRejected(
                f"LibreOffice did not finish the conversion within {timeout:g} s "
                "(the document makes it hang, or is too big)"
            ) from None
        finally:
            kill_tree(process.pid)
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
        if process.returncode != 0:
            tail = stderr.decode(errors="replace")[-_STDERR_TAIL:]
            log.warning("office_conversion_failed", returncode=process.returncode, stderr=tail)
