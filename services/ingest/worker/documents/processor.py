"""The document facade the job handlers use: conversions, parsing, tonality, the
capabilities report, and a private working directory per job."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ingest.worker.documents import converters, isolation, office
from services.ingest.worker.documents.errors import ConverterUnavailable, DocumentRejected
from services.ingest.worker.documents.kinds import PROSE_KINDS, DocumentKind
from services.ingest.worker.documents.limits import DocumentLimits
from services.ingest.worker.documents.office import LibreOffice
from services.ingest.worker.documents.sandbox import Sandbox
from services.ingest.worker.documents.settings import DocumentSettings
from services.ingest.worker.documents.sniffing import sniff_path
from shared.log import get_logger

log = get_logger("services.ingest.worker.documents")
WORKSPACE_PREFIX = "quarry-document-"


@dataclass(frozen=True)
class Converted:
    path: Path
    kind: DocumentKind
    tool: str
    details: dict[str, Any]


class DocumentProcessor:
    def __init__(self, settings: DocumentSettings | None = None) -> None:
        self.settings = settings or DocumentSettings()
        self.limits = DocumentLimits.from_settings(self.settings)
        self.sandbox = Sandbox(
            concurrency=self.settings.max_concurrency,
            memory_bytes=self.limits.memory_bytes,
            max_output_bytes=self.limits.max_output_bytes,
            isolate_network=self.settings.isolate_network,
        )
        self.office = LibreOffice(
            office.find_soffice(self.settings.libreoffice_binary),
            concurrency=self.settings.office_concurrency,
            memory_bytes=self.limits.memory_bytes,
        )
        self._tools: dict[str, str | None] = {}
        self._office_version: str | None = None
        self._started = False
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the sandbox and learn which tools this host has (seconds; once)."""
        async with self._start_lock:
            if not self._started:
                await self._start()
                self._started = True

    async def _start(self) -> None:
        await self.sandbox.start()
        self._tools = await self.sandbox.run("capabilities", {}, timeout=60.0)
        if self.settings.isolate_network:
            self.office.isolation_prefix = await asyncio.to_thread(isolation.command_prefix)
        if self.office.available:
            self._office_version = await self.office.version()
        report = self.capabilities()
        log.info(
            "document_converters",
            available=len(report["conversions"]) - len(report["unavailable"]),
            unavailable=report["unavailable"],
            network_isolated=report["network_isolated"],
        )

    async def close(self) -> None:
        await self.sandbox.close()
        self._started = False

    # -- what this worker can do ----------------------------------------------------

    def tool_versions(self) -> dict[str, str | None]:
        return {**self._tools, "libreoffice": self._office_version}

    def capabilities(self) -> dict[str, Any]:
        """Which converters were found: for the worker's health in
        ``/monitoring/detailed``, the ingest service's answers and the start-up log."""
        versions = self.tool_versions()
        conversions = []
        unavailable = []
        for (source, target), tool in sorted(converters.CONVERSIONS.items()):
            available = versions.get(tool) is not None
            conversions.append(
                {"from": str(source), "to": str(target), "tool": tool, "available": available}
            )
            if not available:
                unavailable.append(f"{source}->{target} (needs {converters.TOOLS[tool].needs})")
        return {
            "tools": versions,
            "conversions": conversions,
            "unavailable": unavailable,
            "network_isolated": bool(self.sandbox.network_isolated),
            "office_network_isolated": bool(self.office.isolation_prefix),
        }

    # -- jobs -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def workspace(self) -> AsyncIterator[Path]:
        """A private directory for one job, removed with all it holds afterwards."""
        root = self.settings.work_dir
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=WORKSPACE_PREFIX, dir=root))
        try:
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, path, True)

    def check_kind(self, source: Path, declared: DocumentKind, filename: str | None) -> None:
        """The file must be what its job says it is (text kinds may stand for each
        other: any text is valid Markdown)."""
        actual = sniff_path(source, filename)
        if actual is declared or (actual is not None and actual.is_text and declared.is_text):
            return
        raise DocumentRejected(
            f"the file is {'a ' + str(actual) if actual else 'not an accepted document'}, "
            f"not {declared}"
        )

    async def convert(
        self,
        source: Path,
        source_kind: DocumentKind,
        target_kind: DocumentKind,
        workdir: Path,
        *,
        filename: str | None = None,
    ) -> Converted:
        await self.start()
        tool = converters.tool_for(source_kind, target_kind)
        if tool is None:
            raise DocumentRejected(
                f"{source_kind} cannot be converted to {target_kind}; supported: "
                + ", ".join(converters.supported_pairs())
            )
        if self.tool_versions().get(tool) is None:
            raise ConverterUnavailable(
                f"{source_kind}->{target_kind} needs {converters.TOOLS[tool].needs}"
            )
        self.check_kind(source, source_kind, filename)
        timeout = self.settings.timeout_seconds
        destination = workdir / f"output.{target_kind.extension}"
        arguments: dict[str, Any] = {"source": str(source), "limits": self.limits}
        started = time.monotonic()
        details: dict[str, Any] = {}
        if tool == "libreoffice":
            await self.sandbox.run(
                "check_container", {**arguments, "kind": str(source_kind)}, timeout=timeout
            )
            produced = await self.office.convert(
                source, source_kind, target_kind, workdir, timeout=timeout
            )
            produced.replace(destination)
        elif tool == "polars":
            details = await self.sandbox.run(
                "table",
                {
                    **arguments,
                    "kind": str(source_kind),
                    "destination": str(destination),
                    "target": str(target_kind),
                },
                timeout=timeout,
            )
        else:
            operation = {"weasyprint": "to_pdf", "markdown-it": "to_html"}.get(tool)
            if operation is None:
                operation = "to_html" if target_kind is DocumentKind.HTML else "to_text"
            details = await self.sandbox.run(
                operation,
                {**arguments, "kind": str(source_kind), "destination": str(destination)},
                timeout=timeout,
            )
        if not destination.is_file():
            raise DocumentRejected(f"the conversion to {target_kind} produced no file")
        details = {**(details or {}), "seconds": round(time.monotonic() - started, 3)}
        return Converted(destination, target_kind, tool, details)

    async def parse(
        self, source: Path, kind: DocumentKind, keywords: list[str], *, filename: str | None = None
    ) -> dict[str, Any]:
        await self.start()
        self._require_prose(kind)
        self.check_kind(source, kind, filename)
        result: dict[str, Any] = await self.sandbox.run(
            "parse",
            {"source": str(source), "kind": str(kind), "keywords": keywords, "limits": self.limits},
            timeout=self.settings.timeout_seconds,
        )
        return result

    async def tonality(
        self, source: Path, kind: DocumentKind, *, filename: str | None = None
    ) -> dict[str, Any]:
        await self.start()
        self._require_prose(kind)
        self.check_kind(source, kind, filename)
        result: dict[str, Any] = await self.sandbox.run(
            "tonality",
            {"source": str(source), "kind": str(kind), "limits": self.limits},
            timeout=self.settings.timeout_seconds,
        )
        return result

    @staticmethod
    def _require_prose(kind: DocumentKind) -> None:
        if kind not in PROSE_KINDS:
            raise DocumentRejected(
                f"a {kind} file has no prose to analyse; supported: "
                + ", ".join(sorted(str(k) for k in PROSE_KINDS))
            )
