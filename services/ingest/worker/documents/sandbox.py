"""Running one operation on a hostile document out of the worker's process.

A fork server (:mod:`.zygote`, started once) has imported the document libraries and
loaded their models; each job is a fresh child forked from it, so jobs share no state
and a warm child costs a few milliseconds. The child has its own process group, an
address-space limit, no core dumps, a bound on the files it writes, a CPU-time limit
and (when the host allows) no network. The worker waits for its outcome without
blocking the event loop and, past the timeout, kills the child's whole process group.

Outcomes: the operation's value; :class:`DocumentRejected` (its own verdict, a
library failing on the document, a timeout, or a child killed by its limits: the
document's fault, and the same on every retry); or :class:`SandboxFailure` for what is
the platform's fault (an ``OSError`` such as a full disk, a dead fork server): retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from services.ingest.worker.documents.errors import DocumentRejected
from shared.log import get_logger

log = get_logger("services.ingest.worker.documents")

_REPO_ROOT = Path(__file__).resolve().parents[4]
_START_TIMEOUT = 120.0
_EXIT_GRACE = 5.0
_PASSED_ENVIRONMENT = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "FONTCONFIG_PATH",
)


class SandboxFailure(RuntimeError):
    """The sandbox itself failed (not the document): worth a retry."""


class Sandbox:
    def __init__(
        self,
        *,
        concurrency: int,
        memory_bytes: int,
        max_output_bytes: int,
        isolate_network: bool,
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._limits = {"memory_bytes": memory_bytes, "max_output_bytes": max_output_bytes}
        self._isolate_network = isolate_network
        self._ids = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._started: dict[int, asyncio.Future[int]] = {}
        self._exited: dict[int, asyncio.Future[int]] = {}
        self._start_lock = asyncio.Lock()
        self.network_isolated: bool | None = None
        self.zygote_pid: int | None = None

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the fork server (it imports and warms the libraries: a few seconds)."""
        async with self._start_lock:
            if self._control is not None:
                return
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            # Only what Python and the libraries need: the worker's credentials stay out
            # of every process that parses a stranger's document.
            environment = {k: os.environ[k] for k in _PASSED_ENVIRONMENT if k in os.environ}
            environment.update(
                PYTHONPATH=str(_REPO_ROOT),
                OPENBLAS_NUM_THREADS="1",
                OMP_NUM_THREADS="1",
                QUARRY_SANDBOX_ISOLATE_NETWORK="1" if self._isolate_network else "0",
            )
            with theirs:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "services.ingest.worker.documents.zygote",
                    str(theirs.fileno()),
                    pass_fds=(theirs.fileno(),),
                    stdin=asyncio.subprocess.DEVNULL,
                    env=environment,
                    start_new_session=True,
                )
            ours.setblocking(False)
            loop = asyncio.get_running_loop()
            try:
                ready = await asyncio.wait_for(loop.sock_recv(ours, 4096), _START_TIMEOUT)
                _, self.zygote_pid, self.network_isolated = pickle.loads(ready)  # noqa: S301
            except (TimeoutError, EOFError, pickle.UnpicklingError, ValueError) as exc:
                ours.close()
                await self._stop_process()
                raise SandboxFailure("the document sandbox did not start") from exc
            self._control = ours
            loop.add_reader(ours.fileno(), self._on_control)
            log.info(
                "document_sandbox_started",
                pid=self.zygote_pid,
                network_isolated=self.network_isolated,
            )

    async def close(self) -> None:
        if self._control is not None:
            asyncio.get_running_loop().remove_reader(self._control.fileno())
            self._control.close()
            self._control = None
        await self._stop_process()
        self._fail_pending("the document sandbox stopped")

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), _EXIT_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def _on_control(self) -> None:
        assert self._control is not None
        while True:
            try:
                data = self._control.recv(4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the fork server died: every waiting job fails, next job restarts it
                log.error("document_sandbox_died", pid=self.zygote_pid)
                asyncio.get_running_loop().remove_reader(self._control.fileno())
                self._control.close()
                self._control = None
                self._fail_pending("the document sandbox died")
                return
            kind, key, value = pickle.loads(data)  # noqa: S301 (our own fork server)
            if kind == "started":
                # The exit may be reported before the job resumes: its future exists now.
                self._exited[value] = asyncio.get_running_loop().create_future()
                future = self._started.pop(key, None)
            else:
                future = self._exited.get(key)
            if future is not None and not future.done():
                future.set_result(value)

    def _fail_pending(self, reason: str) -> None:
        for futures in (self._started, self._exited):
            for future in futures.values():
                if not future.done():
                    future.set_exception(SandboxFailure(reason))
            futures.clear()

    # -- running ------------------------------------------------------------------

    async def run(self, operation: str, arguments: dict[str, Any], *, timeout: float) -> Any:
        """The value of ``operation(**arguments)``, computed in a fresh child."""
        async with self._slots:
            await self.start()
            return await self._run(operation, arguments, timeout)

    async def _run(self, operation: str, arguments: dict[str, Any], timeout: float) -> Any:
        assert self._control is not None
        loop = asyncio.get_running_loop()
        limits = {**self._limits, "cpu_seconds": max(1, int(timeout) + 1)}
        payload = pickle.dumps((operation, arguments, limits))
        request_id = next(self._ids)
        started: asyncio.Future[int] = loop.create_future()
        self._started[request_id] = started
        read_end, write_end = os.pipe()
        try:
            try:
                request = pickle.dumps(("run", request_id, payload))
                socket.send_fds(self._control, [request], [write_end])
            finally:
                os.close(write_end)
            pid = await asyncio.wait_for(started, _START_TIMEOUT)
            exited = self._exited[pid]
            try:
                data, finished = await self._read_outcome(read_end, timeout)
            finally:
                if not exited.done():
                    _kill_group(pid)  # finished or not, nothing of it may linger
            try:
                exitcode: int | None = await asyncio.wait_for(asyncio.shield(exited), _EXIT_GRACE)
            except TimeoutError:
                exitcode = None
            finally:
                self._exited.pop(pid, None)
        except (OSError, TimeoutError) as exc:
            self._started.pop(request_id, None)
            raise SandboxFailure(f"the document sandbox failed ({type(exc).__name__})") from exc
        finally:
            os.close(read_end)
        if not finished:
            raise DocumentRejected(
                f"processing the document did not finish within {timeout:g} s "
                "(it loops, or is too big)"
            )
        return _outcome(operation, data, exitcode)

    @staticmethod
    async def _read_outcome(read_end: int, timeout: float) -> tuple[bytes, bool]:
        """Everything the child wrote, and whether it closed the pipe in time."""
        loop = asyncio.get_running_loop()
        os.set_blocking(read_end, False)
        chunks: list[bytes] = []
        done: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            while True:
                try:
                    chunk = os.read(read_end, 1 << 16)
                except BlockingIOError:
                    return
                if not chunk:
                    if not done.done():
                        done.set_result(None)
                    return
                chunks.append(chunk)

        loop.add_reader(read_end, readable)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            return b"".join(chunks), False
        finally:
            loop.remove_reader(read_end)
        return b"".join(chunks), True


def _outcome(operation: str, data: bytes, exitcode: int | None) -> Any:
    if data:
        try:
            status, value = pickle.loads(data)  # noqa: S301 (our own child)
        except (pickle.UnpicklingError, EOFError, ValueError):
            status, value = "died", None
        if status == "ok":
            return value
        if status == "rejected":
            raise DocumentRejected(value)
        if status == "failed":
            name, message = value
            log.warning(
                "document_operation_failed", operation=operation, error=f"{name}: {message}"
            )
            raise DocumentRejected(f"the document could not be processed ({name})")
        if status == "error":
            raise SandboxFailure(f"document operation {operation} failed: {value}")
    log.warning("document_child_died", operation=operation, exitcode=exitcode)
    killed_by = -exitcode if exitcode is not None and exitcode < 0 else None
    if killed_by == signal.SIGXCPU:
        raise DocumentRejected("processing the document used more CPU time than allowed")
    if killed_by == signal.SIGXFSZ:
        raise DocumentRejected("the converted file would be larger than allowed")
    if killed_by is not None:
        raise DocumentRejected(
            f"the document made the converter crash ({signal.Signals(killed_by).name}: "
            "damaged, hostile, or needing more memory than allowed)"
        )
    raise SandboxFailure(f"document operation {operation} ended without an outcome ({exitcode})")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
