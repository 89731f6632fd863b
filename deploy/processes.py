"""Child processes the launcher owns: each in its own process group, its output in a
log file (and, for ``make up``, on the console with a name prefix), stopped with a
signal and then killed, group and all, so nothing outlives the launcher.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deploy import console
from deploy.ports import free_port
from deploy.privileges import Account

CHILD_GUARD = Path(__file__).resolve().parent / "child_guard.py"


class StartupError(RuntimeError):
    """A process or server did not become ready; the message says which and why."""


def guarded_argv(argv: Sequence[str], *, death_signal: int, run_as: Account | None) -> list[str]:
    """``argv`` started through :mod:`deploy.child_guard`: it runs as ``run_as`` and
    gets ``death_signal`` when this process dies (even by SIGKILL), set up in the child
    itself between fork and exec, with no pre-exec hook in this multi-threaded parent."""
    user, group = (run_as.user, run_as.group) if run_as else ("-", "-")
    return [
        sys.executable,
        "-I",
        "-S",
        str(CHILD_GUARD),
        str(int(death_signal)),
        str(os.getpid()),
        user,
        group,
        "--",
        *argv,
    ]


@dataclass
class ManagedProcess:
    """One child process (the leader of its own process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM
    _pump: threading.Thread | None = field(default=None, repr=False)
    started_at: float = field(default_factory=time.time)  # Unix time
    _stop_requested: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def request_stop(self) -> None:
        """Send ``stop_signal`` once (a second SIGTERM makes uvicorn skip its graceful exit)."""
        if not self._stop_requested and self.popen.poll() is None:
            self._stop_requested = True
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)

    def stop(self, timeout: float = 10.0) -> None:
        """``stop_signal`` to the leader, then SIGKILL to the whole group after ``timeout``."""
        self.request_stop()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.popen.wait(5)
        # Whatever the leader left in its group (workers, helpers) goes too.
        self._signal_group(signal.SIGKILL)
        if self._pump is not None:
            self._pump.join(timeout=2)


def stop_all(processes: Sequence[ManagedProcess], timeout: float = 15.0) -> None:
    """Stop several processes at once: all are asked first, then each is waited for."""
    for process in processes:
        process.request_stop()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.stop(max(0.1, deadline - time.monotonic()))


def _pump_output(stream: IO[bytes], log_path: Path, name: str) -> None:
    """The child's lines into its log file as they are (JSON), and to the console as
    a person reads them (:mod:`deploy.console`)."""
    shown = console.current()
    with stream, log_path.open("ab") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            shown.emit(name, line.decode(errors="replace"))


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: Account | None = None,
    console: bool = False,
    stop_signal: int = signal.SIGTERM,
) -> ManagedProcess:
    """Start ``argv`` in a new session; stdout and stderr go to ``log_path``
    (appended) and, when ``console`` is set, to the launcher's console as well."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        output: IO[bytes] | int = (
            subprocess.PIPE if console else stack.enter_context(log_path.open("ab"))
        )
        popen = subprocess.Popen(
            guarded_argv(argv, death_signal=stop_signal, run_as=run_as),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # its own process group, away from our terminal
        )
    pump = None
    if console:
        assert popen.stdout is not None
        pump = threading.Thread(
            target=_pump_output,
            args=(popen.stdout, log_path, name),
            name=f"log-{name}",
            daemon=True,
        )
        pump.start()
    return ManagedProcess(name, popen, log_path, stop_signal, pump)


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: ManagedProcess | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``ready`` until it answers True; fail early if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if process is not None and not process.running:
            raise StartupError(
                f"{what}: process exited with status {process.popen.returncode} before it was "
                f"ready (log: {process.log_path})\n{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            tail = f"\n{process.log_tail()}" if process is not None else ""
            log = f" (log: {process.log_path})" if process is not None else ""
            raise StartupError(f"{what}: not ready after {timeout:.0f} s{log}{tail}")
        time.sleep(interval)


_PORT_TAKEN = re.compile(
    r"could not bind|address already in use|Could not create server TCP", re.IGNORECASE
)


class ServerLaunch:
    """A server starting on a free loopback port. :meth:`wait` blocks until it answers,
    so several servers can boot side by side; a port someone took between our look
    and the server's bind is retried on another."""

    def __init__(
        self,
        start: Callable[[int], ManagedProcess],
        ready: Callable[[int], bool],
        *,
        what: str,
        timeout: float,
        interval: float = 0.05,
        attempts: int = 3,
        pick_port: Callable[[], int] = free_port,
    ) -> None:
        self._start = start
        self._pick_port = pick_port
        self._ready = ready
        self._what = what
        self._timeout = timeout
        self._interval = interval
        self._attempts_left = attempts - 1
        self.port = pick_port()
        self.process = start(self.port)

    def wait(self) -> int:
        """The port, once the server answers; the process is stopped if it never does."""
        while True:
            try:
                wait_until(
                    functools.partial(self._ready, self.port),
                    what=self._what,
                    timeout=self._timeout,
                    process=self.process,
                    interval=self._interval,
                )
            except StartupError:
                self.stop()
                if self._attempts_left == 0 or not _PORT_TAKEN.search(self.process.log_tail()):
                    raise
                self._attempts_left -= 1
                self.port = self._pick_port()
                self.process = self._start(self.port)
                continue
            except BaseException:  # Ctrl-C while waiting: leave nothing behind
                self.stop()
                raise
            return self.port

    def restart(self) -> ManagedProcess:
        """Start it again on the same port (after it died); the supervisor waits for it."""
        self.process = self._start(self.port)
        return self.process

    def answers(self) -> bool:
        return self._ready(self.port)

    def stop(self, timeout: float = 30.0) -> None:
        self.process.stop(timeout)
