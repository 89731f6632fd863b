"""``make demo`` where nothing runs yet: it starts the platform (``python -m deploy up``)
in its own terminal, feeds the demo account, prints where to look and leaves the
platform running; Ctrl-C stops all of it, as with ``make up``.

(The printed commands themselves are checked against the session's platform, every
one of them: ``tests/e2e/test_demo.py``.)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from deploy.ports import free_port
from tests.deploy.test_supervision import alive, children_of

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 600.0  # a cold platform start and the demo, on a loaded 2-core machine
STOP_TIMEOUT = 90.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class Console:
    """A process's output, read line by line in a thread."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> int:
        """The index of the first line matching ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, line in enumerate(self.lines):
                    if regex.search(line):
                        return index
                left = deadline - time.monotonic()
                if left <= 0 or self.popen.poll() is not None:
                    tail = "\n".join(self.lines[-60:])
                    raise AssertionError(f"no line matching {pattern!r}:\n{tail}")
                self._changed.wait(min(left, 1.0))

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


def test_make_demo_starts_the_platform_leaves_it_running_and_ctrl_c_stops_it() -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the demo's printed commands (apt-get install curl)")
    workdir = Path(tempfile.mkdtemp(prefix="quarry-demo-"))
    port = free_port()
    env = {
        **os.environ,
        "QUARRY_PORT": str(port),
        "QUARRY_DATA_DIR": str(workdir / "data"),
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        "NO_COLOR": "1",
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo"],  # what `make demo` runs
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(demo)
    try:
        console.wait_for(r"nothing answers on .*: starting the platform", 60)
        banner = console.wait_for(r"^Quarry is up: ", RUN_TIMEOUT)
        ready = console.wait_for(r"^Quarry demo ready in ", RUN_TIMEOUT)
        last = console.wait_for(r"the platform keeps running \(started by the demo\)", 60)
        assert banner < ready < last
        launchers = [p for p, cmd in children_of(demo.pid).items() if "deploy up" in cmd]
        assert len(launchers) == 1, children_of(demo.pid)
        launcher = launchers[0]
        # The platform stays up after the demo: its printed commands answer.
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
        analysis = next(line.strip() for line in console.lines[ready:] if "/api/analysis/" in line)
        done = subprocess.run(
            ["bash", "-c", analysis], cwd=workdir, capture_output=True, text=True, timeout=120
        )
        assert '"message_count":3000' in done.stdout, done.stdout + done.stderr
        assert (workdir / "data" / "demo" / "account.json").stat().st_mode & 0o077 == 0
        # Ctrl-C (the demo alone gets it: the platform runs in a session of its own).
        demo.send_signal(signal.SIGINT)
        assert demo.wait(STOP_TIMEOUT) == 0, console.text()[-3000:]
        assert not alive(launcher)
        assert "Quarry stopped." in console.text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/api/health", timeout=5)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
