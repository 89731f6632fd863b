"""The profile service in-process (httpx.ASGITransport) on the session's real PostgreSQL
and Redis, with the local fake TikTok (tests/services/profile/fakes.py) as every
provider, and an injected clock so TTLs are tested without sleeping.

Each app gets its own database (migrated with the service's Alembic environment) and
its own Redis namespace, so these tests never touch the platform's ``profile`` schema.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.profile.app import create_app
from services.profile.clock import ManualClock
from services.profile.models import SCHEMA
from services.profile.runtime import ProfileRuntime
from services.profile.settings import ProfileSettings
from shared.database import async_url
from shared.identity import AuthMethod, Principal, Role
from shared.migrations import upgrade
from shared.proof import proof_headers
from shared.tokens import TokenVerifier
from tests.services.profile.fakes import FakeTikTok, generator_templates

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "profile" / "migrations"
ISSUER, AUDIENCE = "quarry-auth", "quarry"


async def _admin_sql(database_url: str, statement: str) -> None:
    engine = create_async_engine(async_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def profile_database_url(backing: Any) -> AsyncIterator[str]:
    name = f"profile_test_{uuid.uuid4().hex[:12]}"
    await _admin_sql(backing.database_url, f'CREATE DATABASE "{name}"')
    url = make_url(async_url(backing.database_url)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, rendered, SCHEMA)
    yield rendered
    await _admin_sql(backing.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeTikTok]:
    server = FakeTikTok().start()
    yield server
    server.stop()


@dataclass
class Signer:
    """Mints access tokens the way auth does (EdDSA, kid), for a local verifier."""

    key: Ed25519PrivateKey
    kid: str

    def jwks(self) -> dict[str, Any]:
        public = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}

    def token(
        self,
        *,
        client_id: str = "tenant-a",
        role: Role = Role.USER,
        scopes: tuple[str, ...] = ("*",),
        user_id: str | None = None,
    ) -> str:
        now = int(time.time())
        principal = Principal(
            user_id=user_id or uuid.uuid4().hex,
            username="tester",
            role=role,
            client_id=client_id,
            scopes=scopes,
            session_id=f"s-{uuid.uuid4().hex[:8]}",
            auth_method=AuthMethod.API_KEY,
            token_id=uuid.uuid4().hex,
            expires_at=now + 3600,
        )
        claims = {
            **principal.to_claims(),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 3600,
            "jti": principal.token_id,
            "typ": "access",
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def verifier(self) -> TokenVerifier:
        jwks = self.jwks()

        async def source() -> dict[str, Any]:
            return jwks

        return TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate(), uuid.uuid4().hex[:12])


@dataclass
class ProfileApp:
    app: FastAPI
    client: httpx.AsyncClient
    runtime: ProfileRuntime
    clock: ManualClock
    settings: ProfileSettings
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def base_settings(
    database_url: str, redis_url: str, fake: FakeTikTok, **overrides: Any
) -> ProfileSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_namespace": f"test-profile-{uuid.uuid4().hex[:8]}",
        "log_json": False,
        "log_level": "WARNING",
        "scraper_url_template": f"{fake.url}/@{{username}}",
        "generator_url_templates": generator_templates(fake, "adventurer", "identicon"),
        "image_hosts": [fake.host],
        "scraper_retry_base_seconds": 0.01,
        "scraper_timeout": 2.0,
        "generator_timeout": 2.0,
        "live_avatar_timeout": 2.0,
        "tiktok_sign_url": fake.url,
        "tiktok_app_url": fake.url,
        "tiktok_webcast_url": f"{fake.url}/webcast",
        "live_source": "tiktok",
        "live_connect_timeout": 5.0,
        "presence_seconds": 0.5,
    }
    values.update(overrides)
    return ProfileSettings(**values)


AppFactory = Callable[..., Any]


@pytest.fixture
def profile_app(
    profile_database_url: str, backing: Any, fake: FakeTikTok, signer: Signer
) -> AppFactory:
    """``async with profile_app(**settings) as p``: a running app and a client of it."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[ProfileApp]:
        settings = base_settings(profile_database_url, backing.redis_url, fake, **overrides)
        clock = ManualClock()
        app = create_app(settings, clock=clock)
        async with app.router.lifespan_context(app):
            runtime: ProfileRuntime = app.state.profile
            runtime.verifier = signer.verifier()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://profile",
                headers=proof_headers(settings.internal_token),  # as if via the gateway
            ) as client:
                yield ProfileApp(app, client, runtime, clock, settings, signer.token())

    return start


@pytest.fixture
def name() -> Callable[[str], str]:
    """Unique usernames per test (the database is shared by the session)."""
    suffix = uuid.uuid4().hex[:6]
    return lambda base: f"{base}_{suffix}"
