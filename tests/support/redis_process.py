"""A redis-server of a test's own on a fixed loopback port, which the test stops
(SIGTERM or, as a crash would, SIGKILL), freezes (SIGSTOP) and starts again on the
same port (tests of Redis outages).

It is configured as the platform's Redis is (``deploy/redis_server.py``): it refuses
every command before ``AUTH`` (``requirepass`` from a 0600 config file), so a client
that forgets the password fails here as it would against ``make up``'s Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from deploy.ports import free_port
from deploy.redis_server import find_redis_server, ping
from deploy.redis_server import url as redis_url

START_TIMEOUT = 15.0


class RedisProcess:
    """A password-protected redis-server on a fixed port that a test may stop, kill,
    freeze and restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.password = secrets.token_urlsafe(18)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://:<password>@127.0.0.1:<port>/0``"""
        return redis_url(self.port, self.password)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "redis.conf"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f'requirepass "{self.password}"\n')
        argv = [str(find_redis_server()), str(config), "--port", str(self.port)]
        argv += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.directory)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(self.port):  # +PONG or -NOAUTH: it is up
            assert self.process.poll() is None, f"redis-server exited ({self.process.returncode})"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM (a frozen server is woken first): clients see their connections closed."""
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def kill(self) -> None:
        """As a crash: SIGKILL, nothing written, every connection cut."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
