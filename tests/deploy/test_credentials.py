"""The local servers need credentials, and each service gets only its own:
PostgreSQL asks every connection for a scram-sha-256 password, each service's role
can touch only its own schema, Redis refuses commands until AUTH, and nothing
printed for people carries a password."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from deploy.backing import BackingServices
from deploy.dev_secrets import BACKING_GENERATORS, read_env_file
from deploy.platform import RunningPlatform
from deploy.postgres import run_postgres
from deploy.postgres_roles import role_name
from deploy.topology import PROCESSES, SERVICES, Role
from deploy.urls import without_password

REFUSED = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def service_urls(platform: RunningPlatform) -> dict[str, str]:
    """The DATABASE_URL each running service process was really given."""
    return {
        spec.service: environment_of(platform.processes[spec.name].pid)["DATABASE_URL"]
        for spec in PROCESSES
        if spec.role is Role.SERVICE and spec.service is not None
    }


@pytest.mark.parametrize("user", ["postgres", *(role_name(s.name) for s in SERVICES)])
async def test_postgres_refuses_a_connection_without_the_right_password(
    backing: BackingServices, user: str
) -> None:
    server = urlsplit(backing.database_url)
    for password in (None, "", "wrong-password"):
        with pytest.raises(REFUSED):
            await asyncpg.connect(
                host=server.hostname,
                port=server.port,
                user=user,
                password=password,
                database="quarry",
                timeout=10,
            )


async def test_the_superuser_logs_in_with_its_password(backing: BackingServices) -> None:
    conn = await asyncpg.connect(plain(backing.database_url))
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        methods = await conn.fetch("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
    finally:
        await conn.close()
    assert [m["auth_method"] for m in methods] == ["scram-sha-256"]  # no trust left


async def test_each_service_runs_as_its_own_role_confined_to_its_schema(
    platform: RunningPlatform,
) -> None:
    urls = service_urls(platform)
    assert set(urls) == {s.name for s in SERVICES}
    for service, url in urls.items():
        assert urlsplit(url).username == role_name(service)  # never the superuser
        conn = await asyncpg.connect(plain(url))
        try:
            assert not await conn.fetchval(
                "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user"
            )
            # Its own schema: its migrations ran as this role, which owns every table.
            owners = await conn.fetch(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", service
            )
            assert [o["tableowner"] for o in owners] == [role_name(service)]
            await conn.fetch(f'SELECT * FROM "{service}".alembic_version')  # noqa: S608 - readable
            for other in (s.name for s in SERVICES if s.name != service):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetch(f'SELECT * FROM "{other}".alembic_version')  # noqa: S608
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(f'CREATE TABLE "{other}".intruder (x int)')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE SCHEMA intruder")
        finally:
            await conn.close()


def resp(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command)
        return sock.recv(256)


def test_redis_refuses_unauthenticated_commands(backing: BackingServices) -> None:
    url = urlsplit(backing.redis_url)
    assert url.port is not None
    assert url.password
    assert resp(url.port, b"*1\r\n$4\r\nPING\r\n").startswith(b"-NOAUTH")
    assert resp(url.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n").startswith(b"-NOAUTH")
    password = url.password.encode()
    auth = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password)
    assert resp(url.port, auth + b"*1\r\n$4\r\nPING\r\n") == b"+OK\r\n+PONG\r\n"


def test_printed_urls_carry_no_password(backing: BackingServices) -> None:
    for url in (backing.database_url, backing.redis_url):
        secret = urlsplit(url).password
        assert secret
        assert secret not in without_password(url)
        assert "***" in without_password(url)


def test_the_worker_and_gateway_get_no_database_credentials(platform: RunningPlatform) -> None:
    for spec in PROCESSES:
        if spec.role in (Role.WORKER, Role.GATEWAY):
            env = environment_of(platform.processes[spec.name].pid)
            assert not any("DATABASE_URL" in name for name in env), spec.name
            assert not set(BACKING_GENERATORS) & env.keys(), spec.name


def test_no_process_sees_the_local_servers_own_secrets(platform: RunningPlatform) -> None:
    for name, process in platform.processes.items():
        assert not set(BACKING_GENERATORS) & environment_of(process.pid).keys(), name


def test_a_persistent_backing_keeps_its_credentials_in_the_secrets_file(tmp_path: Path) -> None:
    from deploy.dev_secrets import load_or_create

    first = load_or_create(tmp_path / "secrets.env", BACKING_GENERATORS)
    again = load_or_create(tmp_path / "secrets.env", BACKING_GENERATORS)
    assert first == again
    assert set(read_env_file(tmp_path / "secrets.env")) == set(BACKING_GENERATORS)


@pytest.fixture
def pgdata() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="quarry-pg-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_cluster_takes_the_password_of_its_secrets_file(
    pgdata: Path, tmp_path: Path
) -> None:
    """A new password (secrets.env regenerated, or a cluster of the launcher that
    trusted loopback) is set before the server listens; the old one stops working."""
    for password, refused in (("first-password", None), ("second-password", "first-password")):
        with run_postgres(
            pgdata, log_path=tmp_path / "pg.log", durable=False, superuser_password=password
        ) as server:
            conn = await asyncpg.connect(plain(server.url()))
            await conn.close()
            if refused is not None:
                with pytest.raises(REFUSED):
                    await asyncpg.connect(plain(server.url(password=refused)))


async def test_roles_adopt_what_a_superuser_made_in_their_schema(
    pgdata: Path, tmp_path: Path
) -> None:
    with run_postgres(
        pgdata, log_path=tmp_path / "pg.log", durable=False, superuser_password="pw-superuser"
    ) as server:
        conn = await asyncpg.connect(plain(server.url()))
        try:  # as an older launcher's cluster has it: everything belongs to postgres
            await conn.execute(
                "CREATE SCHEMA ingest; CREATE TYPE ingest.state AS ENUM ('a', 'b');"
                "CREATE TABLE ingest.files (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " n serial, s ingest.state);"
                "CREATE SEQUENCE ingest.loose; CREATE VIEW ingest.v AS SELECT id FROM ingest.files;"
                "CREATE FUNCTION ingest.f() RETURNS int LANGUAGE sql AS 'SELECT 1';"
            )
        finally:
            await conn.close()
        urls = server.ensure_service_roles({"ingest": "pw-ingest", "auth": "pw-auth"})
        server.ensure_service_roles({"ingest": "pw-ingest", "auth": "pw-auth"})  # idempotent
        conn = await asyncpg.connect(plain(urls["ingest"]))
        try:
            owners = await conn.fetch(
                "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c "
                "WHERE c.relnamespace = 'ingest'::regnamespace"
            )
            assert {o["owner"] for o in owners} == {"quarry_ingest"}, owners
            await conn.execute("ALTER TABLE ingest.files ADD COLUMN note text")  # as owner
            await conn.execute("INSERT INTO ingest.files (s) VALUES ('a')")
            assert await conn.fetchval("SELECT ingest.f()") == 1
        finally:
            await conn.close()
        conn = await asyncpg.connect(plain(urls["auth"]))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT * FROM ingest.files")
        finally:
            await conn.close()
