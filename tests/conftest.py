"""Session fixtures for every test: real backing servers and the whole platform,
started by the same code as ``make up`` (``deploy.backing``, ``deploy.platform``).

- ``backing``: PostgreSQL, Redis, S3 (SeaweedFS) and SQS (moto) on free loopback ports.
- ``platform_env`` / ``platform``: every process of docs/DESIGN.md, started once.
- ``gateway_client``: an ``httpx.AsyncClient`` on the gateway, with its own client IP.
- ``unique``: a short random suffix for usernames and other unique names.

Nothing is skipped: a missing binary or module fails the fixture with the reason,
reported in full once (``tests/fixture_failures.py``), in one line for the other tests.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from deploy.backing import BackingServices, start_backing
from deploy.platform import RunningPlatform, start_platform
from tests.fixture_failures import pytest_runtest_makereport  # noqa: F401 - a hook

TRUSTED_PROXIES = ["127.0.0.1/32", "::1/128"]


@pytest.fixture(scope="session")
def backing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackingServices]:
    """Throw-away PostgreSQL (database ``quarry``), Redis, S3 and SQS for the session."""
    with start_backing(tmp_path_factory.mktemp("backing"), persistent=False) as services:
        yield services


@pytest.fixture(scope="session")
def platform_env() -> dict[str, str]:
    """The variables the session's platform is started with (on top of the launcher's)."""
    return {
        "QUARRY_ENV": "test",
        "API_KEY": f"test-dev-{secrets.token_urlsafe(24)}",
        # Cheap password hashing: hundreds of registrations and logins per run.
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        # Tests are the gateway's proxy: X-Forwarded-For gives each test its own client IP.
        "GATEWAY_TRUSTED_PROXIES": json.dumps(TRUSTED_PROXIES),
        "AUTH_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": "admin@example.com",
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": secrets.token_urlsafe(18),
    }


@pytest.fixture(scope="session")
def platform(
    backing: BackingServices,
    platform_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    """The whole platform on free loopback ports, started once per session.

    Process logs: ``platform.log_path("<process>")`` (``auth``, ``gateway``, ``worker``...).
    """
    data_dir = tmp_path_factory.mktemp("platform")
    with start_platform(data_dir, backing, extra_env=platform_env) as running:
        yield running


def random_client_ip() -> str:
    """A fresh private address, so each test has its own rate-limit buckets."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
async def gateway_client(platform: RunningPlatform) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway, seen by it as coming from its own random IP."""
    async with httpx.AsyncClient(
        base_url=platform.gateway_url,
        timeout=30,
        headers={"X-Forwarded-For": random_client_ip()},
    ) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A short random suffix (8 hex characters) for usernames, e-mails, names."""
    return secrets.token_hex(4)
