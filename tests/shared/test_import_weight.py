"""What a process loads is what it uses: each check runs in a fresh interpreter (this
one has imported everything) and names the heavy libraries that must stay out.

- the gateway opens no database, no object store and no httpx client: SQLAlchemy,
  Alembic, botocore/aioboto3 and httpx (~40 MiB of resident memory together) stay
  unloaded, through its start-up (the app built, the CLI parsed);
- a ``limits`` storage on redis-py loads neither coredis nor NumPy (``limits`` imports
  every client it supports unless told otherwise: 36 MiB in auth and profile).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def loaded(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` are in ``sys.modules`` after running ``code``."""
    probe = f"{code}\nimport sys\nprint(','.join(n for n in {names!r} if n in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return [n for n in out.split(",") if n]


def test_the_gateway_loads_no_database_object_store_or_httpx_client() -> None:
    code = (
        "from gateway.__main__ import cli\n"
        "from gateway.app import create_app\n"
        "from gateway.settings import GatewaySettings\n"
        "create_app(GatewaySettings(environment='test'))\n"
    )
    heavy = ("sqlalchemy", "alembic", "botocore", "aioboto3", "boto3", "httpx", "asyncpg")
    assert loaded(code, heavy) == []
    # The probe sees what it should: the gateway's own clients are there.
    assert loaded(code, ("aiohttp", "redis", "fastapi")) == ["aiohttp", "redis", "fastapi"]


def test_a_redispy_limits_storage_loads_no_other_redis_client() -> None:
    code = (
        "import asyncio\n"
        "from redis.asyncio import Redis\n"
        "from shared.limits_storage import redis_storage\n"
        "async def main():\n"
        "    redis = Redis.from_url('redis://127.0.0.1:1')\n"
        "    redis_storage('redis://127.0.0.1:1', redis, 'probe')\n"
        "    await redis.aclose()\n"
        "asyncio.run(main())\n"
    )
    assert loaded(code, ("coredis", "numpy", "valkey")) == []
    assert loaded(code, ("limits.aio.storage.redis",)) == ["limits.aio.storage.redis"]
