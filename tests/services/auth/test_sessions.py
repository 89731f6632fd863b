"""Session lifetimes, refresh expiry, password rehashing, and Redis being down;
time is moved by editing rows (no clock mocking)."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from argon2 import PasswordHasher as RawArgon2
from sqlalchemy import select, update

from services.auth.app import create_app
from services.auth.models import LoginSession, RefreshToken, User
from services.auth.service.runtime import AuthRuntime
from services.auth.settings import AuthSettings
from tests.services.auth.conftest import AuthDriver, asgi_client


async def session_row(runtime: AuthRuntime, session_id: str) -> LoginSession:
    async with runtime.sessions() as db:
        row = await db.get(LoginSession, uuid.UUID(session_id))
        assert row is not None
        return row


async def edit_session(runtime: AuthRuntime, session_id: str, **values: object) -> None:
    async with runtime.sessions() as db:
        await db.execute(
            update(LoginSession).where(LoginSession.id == uuid.UUID(session_id)).values(**values)
        )
        await db.commit()


async def test_session_expiry_slides_with_use(driver: AuthDriver, runtime: AuthRuntime) -> None:
    account = await driver.register()
    cookie = (await driver.login(account)).cookies["session_id"]
    sid = (await driver.introspect("session", cookie))["sid"]
    now = datetime.now(UTC)
    # Last seen two hours ago, one hour of idle time left.
    await edit_session(
        runtime, sid, last_seen_at=now - timedelta(hours=2), expires_at=now + timedelta(hours=1)
    )
    answer = await driver.introspect("session", cookie)
    assert answer["active"] is True
    row = await session_row(runtime, sid)
    idle = timedelta(seconds=runtime.settings.session_idle_ttl_seconds)
    assert row.expires_at > now + idle - timedelta(minutes=1)
    assert row.last_seen_at >= now


async def test_session_use_within_the_touch_interval_writes_nothing(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    cookie = (await driver.login(account)).cookies["session_id"]
    sid = (await driver.introspect("session", cookie))["sid"]
    before = await session_row(runtime, sid)
    for _ in range(3):
        await driver.introspect("session", cookie)
    after = await session_row(runtime, sid)
    assert (after.last_seen_at, after.expires_at) == (before.last_seen_at, before.expires_at)


async def test_an_idle_or_too_old_session_is_inactive(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    idle = (await driver.login(account)).cookies["session_id"]
    old = (await driver.login(account)).cookies["session_id"]
    idle_sid = (await driver.introspect("session", idle))["sid"]
    old_sid = (await driver.introspect("session", old))["sid"]
    now = datetime.now(UTC)
    await edit_session(runtime, idle_sid, expires_at=now - timedelta(seconds=1))
    await edit_session(runtime, old_sid, absolute_expires_at=now - timedelta(seconds=1))
    assert (await driver.introspect("session", idle)) == {"active": False}
    assert (await driver.introspect("session", old)) == {"active": False}


async def test_introspection_token_never_outlives_the_session(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    cookie = (await driver.login(account)).cookies["session_id"]
    sid = (await driver.introspect("session", cookie))["sid"]
    await edit_session(runtime, sid, absolute_expires_at=datetime.now(UTC) + timedelta(seconds=30))
    answer = await driver.introspect("session", cookie)
    assert 0 < answer["expires_in"] <= 30


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    refresh = (await driver.login(account)).json()["refresh_token"]
    async with runtime.sessions() as db:
        await db.execute(
            update(RefreshToken)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            .where(
                RefreshToken.session_id.in_(
                    select(LoginSession.id).where(
                        LoginSession.user_id == uuid.UUID(account.user_id)
                    )
                )
            )
        )
        await db.commit()
    response = await client.post("/api/auth/refresh/", json={"refresh": refresh})
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or expired refresh token"


async def test_login_rehashes_a_password_with_old_parameters(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    old_hash = RawArgon2(time_cost=2, memory_cost=2048, parallelism=1).hash(account.password)
    async with runtime.sessions() as db:
        await db.execute(
            update(User).where(User.id == uuid.UUID(account.user_id)).values(password_hash=old_hash)
        )
        await db.commit()
    assert (await driver.login(account)).status_code == 200
    async with runtime.sessions() as db:
        stored = (
            await db.execute(
                select(User.password_hash).where(User.id == uuid.UUID(account.user_id))
            )
        ).scalar_one()
    assert stored != old_hash
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert (await driver.login(account)).status_code == 200


async def test_without_redis_logins_fail_closed_with_503(auth_settings: AuthSettings) -> None:
    settings = auth_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        response = await c.post("/auth/login", json={"username": "root", "password": "Admin123!"})
        assert response.status_code == 503
        assert response.json()["error"] == "SERVICE_UNAVAILABLE"
        health = await c.get("/health")
        assert health.status_code == 503
        assert health.json()["components"]["redis"]["status"] == "unhealthy"
