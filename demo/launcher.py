"""Attach to the platform on the gateway URL, or start it (``python -m deploy up``, the
command ``make up`` runs) as a child process whose console is this terminal's.

The child runs in a session of its own, so Ctrl-C reaches the demo alone, which then
stops the platform exactly as ``make up`` does on Ctrl-C (one SIGINT); if the demo dies
without that chance, the kernel sends the child SIGTERM: it is started through the
launcher's own exec guard (``deploy/child_guard.py``, run as a program, not imported),
which sets the parent-death signal before ``exec``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
START_SECONDS = 300.0  # a cold start on a loaded machine (migrations, LibreOffice probe)
STOP_SECONDS = 60.0
GUARD = REPO / "deploy" / "child_guard.py"


class LaunchFailed(Exception):
    """The platform did not come up; the message says why."""


def answers(url: str) -> bool:
    """Whether something answers HTTP on ``url`` (a gateway, healthy or not)."""
    try:
        httpx.get(f"{url}/api/version", timeout=5.0)
    except httpx.TransportError:
        return False
    return True


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=5.0).status_code == 200
    except httpx.TransportError:
        return False


def wait_healthy(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until ``/api/health`` says 200; :class:`LaunchFailed` when ``process`` (the platform
    being started) exits first or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        code = None if process is None else process.poll()
        if code is not None:
            raise LaunchFailed(f"the platform stopped while starting (exit status {code})")
        if time.monotonic() > deadline:
            raise LaunchFailed(f"{url}/api/health did not answer 200 within {timeout:.0f} s")
        time.sleep(0.5)


class StartedPlatform:
    """``python -m deploy up`` in the foreground of this terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        # Spawned from the main thread: the parent-death signal is tied to it.
        guard = [sys.executable, "-I", "-S", str(GUARD), str(int(signal.SIGTERM))]
        self.process = subprocess.Popen(
            [*guard, str(os.getpid()), "-", "-", "--", sys.executable, "-m", "deploy", "up"],
            cwd=REPO,
            env=env,
            start_new_session=True,
        )

    def wait_healthy(self, url: str, timeout: float = START_SECONDS) -> None:
        wait_healthy(url, timeout, self.process)

    def wait(self) -> int:
        return self.process.wait()

    def stop(self) -> int:
        """Ctrl-C's way (SIGINT: the launcher stops everything it started), then harder."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    return self.process.wait(STOP_SECONDS / 2)
                except subprocess.TimeoutExpired:
                    self.process.kill()
        return self.process.wait()


def start(env: dict[str, str] | None = None) -> StartedPlatform:
    return StartedPlatform(dict(os.environ if env is None else env))
