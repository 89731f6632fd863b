"""Housekeeping: ended rows past the retention are deleted (in batches), live and
recent ones are kept; the CLI command and the lifespan task run it. Rows are aged
by writing timestamps (no clock mocking)."""

import asyncio
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.app import create_app
from services.auth.models import ApiKey, LoginSession, RefreshToken, Revocation, SigningKey
from services.auth.repository import AuthRepository
from services.auth.security.credentials import new_api_key_row
from services.auth.security.signing_keys import public_jwk, thumbprint
from services.auth.service import housekeeping
from services.auth.service.housekeeping import prune, prune_exclusively
from services.auth.service.runtime import AuthRuntime, key_retention_seconds
from services.auth.settings import AuthSettings
from tests.services.auth.conftest import AuthDriver
from tests.services.auth.test_bootstrap import run_cli

DAY = timedelta(days=1)


def retention(settings: AuthSettings) -> timedelta:
    return timedelta(seconds=settings.prune_retention_seconds)


async def add_session(
    runtime: AuthRuntime,
    user_id: str,
    *,
    absolute: datetime,
    revoked: datetime | None = None,
    tokens: tuple[datetime, ...] = (),
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A session row with refresh tokens expiring at ``tokens``; (session id, token ids)."""
    session_id = uuid.uuid4()
    token_ids = [uuid.uuid4() for _ in tokens]
    async with runtime.sessions() as db:
        db.add(
            LoginSession(
                id=session_id,
                user_id=uuid.UUID(user_id),
                auth_method="password",
                created_at=absolute - 30 * DAY,
                last_seen_at=absolute - DAY,
                expires_at=absolute - DAY,
                absolute_expires_at=absolute,
                revoked_at=revoked,
                revoked_reason="logout" if revoked else None,
            )
        )
        await db.flush()
        for token_id, expires in zip(token_ids, tokens, strict=True):
            db.add(
                RefreshToken(
                    id=token_id,
                    session_id=session_id,
                    token_hash=secrets.token_bytes(32),
                    expires_at=expires,
                    spent_at=expires - DAY,
                )
            )
        await db.commit()
    return session_id, token_ids


async def add_key(
    runtime: AuthRuntime,
    user_id: str,
    *,
    expires: datetime | None = None,
    revoked: datetime | None = None,
) -> uuid.UUID:
    row, _ = new_api_key_row(
        uuid.UUID(user_id), "pk", name="k", permissions=["*"], expires_at=expires
    )
    row.revoked_at = revoked
    async with runtime.sessions() as db:
        db.add(row)
        await db.commit()
    return row.id


async def add_signing_key(runtime: AuthRuntime, *, retired: datetime) -> str:
    """A genuine (encrypted) key row that signed until ``retired``."""
    private_key = Ed25519PrivateKey.generate()
    jwk = public_jwk(private_key)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = thumbprint(jwk)
    async with runtime.sessions() as db:
        db.add(
            SigningKey(
                kid=kid,
                algorithm="EdDSA",
                public_jwk=jwk,
                private_key_encrypted=runtime.box.seal(pem),
                activates_at=retired - DAY,
                retired_at=retired,
            )
        )
        await db.commit()
    return kid


async def existing(runtime: AuthRuntime, model: type[Any], ids: list[Any]) -> set[Any]:
    key = SigningKey.kid if model is SigningKey else model.id
    async with runtime.sessions() as db:
        return set((await db.execute(select(key).where(key.in_(ids)))).scalars())


async def run_prune(runtime: AuthRuntime, **kwargs: Any) -> housekeeping.PruneCounts:
    async with runtime.sessions() as db:
        return await prune(db, runtime.settings, **kwargs)


async def test_prune_deletes_what_is_past_retention_and_keeps_the_rest(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    user = (await driver.register()).user_id
    # A real login: its session, refresh token and the signing key must all survive.
    login = (await driver.login(await driver.register())).json()
    now = datetime.now(UTC)
    old = now - retention(runtime.settings) - DAY  # ended before the retention
    recent = now - DAY  # ended, but within the retention

    # sessions (with a refresh token that has not expired yet, and so only goes with them)
    revoked_old, revoked_old_tokens = await add_session(
        runtime, user, absolute=now + DAY, revoked=old, tokens=(now + DAY,)
    )
    expired_old, expired_old_tokens = await add_session(runtime, user, absolute=old, tokens=(old,))
    revoked_recent, revoked_recent_tokens = await add_session(
        runtime, user, absolute=now + DAY, revoked=recent, tokens=(now + DAY,)
    )
    expired_recent, _ = await add_session(runtime, user, absolute=recent)
    # A live session: one long-expired spent token, one recently expired, one valid.
    live, (token_old, token_recent, token_live) = await add_session(
        runtime, user, absolute=now + 10 * DAY, tokens=(old, recent, now + DAY)
    )
    # API keys
    key_revoked_old = await add_key(runtime, user, revoked=old)
    key_expired_old = await add_key(runtime, user, expires=old)
    key_revoked_recent = await add_key(runtime, user, revoked=recent)
    key_expired_recent = await add_key(runtime, user, expires=recent)
    key_forever = await add_key(runtime, user)
    key_unexpired = await add_key(runtime, user, expires=now + DAY)
    # signing keys: one retired long before any token it signed could expire, one just now
    window = timedelta(seconds=key_retention_seconds(runtime.settings))
    kid_old = await add_signing_key(runtime, retired=now - window - timedelta(minutes=5))
    kid_recent = await add_signing_key(runtime, retired=now - timedelta(seconds=10))
    signer_before = await runtime.keys.signer()

    counts = await run_prune(runtime)

    sessions = [revoked_old, expired_old, revoked_recent, expired_recent, live]
    assert await existing(runtime, LoginSession, sessions) == {
        revoked_recent,
        expired_recent,
        live,
    }
    tokens = [
        *revoked_old_tokens,
        *expired_old_tokens,
        *revoked_recent_tokens,
        token_old,
        token_recent,
        token_live,
    ]
    assert await existing(runtime, RefreshToken, tokens) == {
        *revoked_recent_tokens,
        token_recent,
        token_live,
    }
    keys = [
        key_revoked_old,
        key_expired_old,
        key_revoked_recent,
        key_expired_recent,
        key_forever,
        key_unexpired,
    ]
    assert await existing(runtime, ApiKey, keys) == {
        key_revoked_recent,
        key_expired_recent,
        key_forever,
        key_unexpired,
    }
    assert await existing(runtime, SigningKey, [kid_old, kid_recent, signer_before.kid]) == {
        kid_recent,
        signer_before.kid,
    }
    assert counts.sessions >= 2
    assert counts.refresh_tokens >= 3
    assert counts.api_keys >= 2
    assert counts.signing_keys >= 1

    # The real login still works end to end, and the same key still signs.
    refreshed = await driver.client.post(
        "/api/auth/refresh/", json={"refresh": login["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    await runtime.keys.reload()
    assert (await runtime.keys.signer()).kid == signer_before.kid

    # Nothing left to do: a second run deletes nothing.
    assert (await run_prune(runtime)).total == 0


async def test_prune_works_through_more_rows_than_one_batch(
    driver: AuthDriver, runtime: AuthRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = uuid.UUID((await driver.register()).user_id)
    now = datetime.now(UTC)
    old = now - retention(runtime.settings) - DAY
    batch = runtime.settings.prune_batch_size
    n = 2 * batch + 17
    session_ids = [uuid.uuid4() for _ in range(n)]
    async with runtime.sessions() as db:
        await db.execute(
            insert(LoginSession),
            [
                {
                    "id": sid,
                    "user_id": user,
                    "auth_method": "password",
                    "last_seen_at": old,
                    "expires_at": old,
                    "absolute_expires_at": old,
                }
                for sid in session_ids
            ],
        )
        await db.execute(
            insert(RefreshToken),
            [
                {
                    "id": uuid.uuid4(),
                    "session_id": sid,
                    "token_hash": secrets.token_bytes(32),
                    "expires_at": old,
                }
                for sid in session_ids
            ],
        )
        await db.commit()

    # Every DELETE statement's row count, per repository method.
    deleted: dict[str, list[int]] = {}

    def spy(name: str) -> None:
        real: Callable[..., Awaitable[int]] = getattr(AuthRepository, name)

        async def wrapper(self: AuthRepository, cutoff: datetime, limit: int) -> int:
            count = await real(self, cutoff, limit)
            deleted.setdefault(name, []).append(count)
            return count

        monkeypatch.setattr(AuthRepository, name, wrapper)

    spy("delete_refresh_tokens_of_ended_sessions")
    spy("delete_sessions_ended_before")

    counts = await run_prune(runtime)

    assert await existing(runtime, LoginSession, session_ids) == set()
    assert counts.sessions == n
    assert counts.refresh_tokens == n
    for name in ("delete_refresh_tokens_of_ended_sessions", "delete_sessions_ended_before"):
        assert deleted[name] == [batch, batch, n - 2 * batch], name


async def test_a_small_batch_size_gives_the_same_result(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    user = (await driver.register()).user_id
    old = datetime.now(UTC) - retention(runtime.settings) - DAY
    keys = [await add_key(runtime, user, revoked=old) for _ in range(7)]
    counts = await run_prune(runtime, batch_size=3)
    assert counts.api_keys == 7
    assert await existing(runtime, ApiKey, keys) == set()


async def test_only_one_process_prunes_at_a_time(
    driver: AuthDriver, runtime: AuthRuntime, auth_app: Any
) -> None:
    user = (await driver.register()).user_id
    old = datetime.now(UTC) - retention(runtime.settings) - DAY
    key = await add_key(runtime, user, revoked=old)
    engine = auth_app.state.engine
    # Another replica holds the lock (on a connection of its own).
    async with engine.connect() as conn, AsyncSession(bind=conn) as holder:
        assert await AuthRepository(holder).try_lock_for_connection(housekeeping.LOCK_NAME)
        assert await prune_exclusively(engine, runtime.settings) is None
        assert await existing(runtime, ApiKey, [key]) == {key}
        await AuthRepository(holder).unlock_for_connection(housekeeping.LOCK_NAME)
        await holder.commit()
    counts = await prune_exclusively(engine, runtime.settings)
    assert counts is not None
    assert counts.api_keys >= 1
    assert await existing(runtime, ApiKey, [key]) == set()
    # The lock was released again: a third run gets it.
    assert await prune_exclusively(engine, runtime.settings) is not None


async def test_the_prune_command_prints_counts(
    driver: AuthDriver, runtime: AuthRuntime, auth_settings: AuthSettings
) -> None:
    user = (await driver.register()).user_id
    now = datetime.now(UTC)
    old = now - retention(runtime.settings) - DAY
    session_id, tokens = await add_session(runtime, user, absolute=old, tokens=(old, old))
    key = await add_key(runtime, user, expires=old)
    live_key = await add_key(runtime, user)

    result = await asyncio.to_thread(run_cli, auth_settings, "prune")

    assert result.returncode == 0, result.stderr
    printed = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+): (\d+) deleted$", result.stdout, re.MULTILINE)
    }
    assert set(printed) == {
        "sessions",
        "refresh_tokens",
        "api_keys",
        "signing_keys",
        "revocations",
    }
    assert printed["sessions"] >= 1
    assert printed["refresh_tokens"] >= 2
    assert printed["api_keys"] >= 1
    assert await existing(runtime, LoginSession, [session_id]) == set()
    assert await existing(runtime, RefreshToken, tokens) == set()
    assert await existing(runtime, ApiKey, [key, live_key]) == {live_key}


async def test_the_app_prunes_shortly_after_start_and_stops_cleanly(
    driver: AuthDriver, runtime: AuthRuntime, auth_settings: AuthSettings
) -> None:
    user = (await driver.register()).user_id
    old = datetime.now(UTC) - retention(runtime.settings) - DAY
    key = await add_key(runtime, user, revoked=old)
    settings = auth_settings.model_copy(
        update={"prune_interval_seconds": 3600.0, "prune_initial_delay_seconds": 0.1}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        task: asyncio.Task[None] = app.state.pruner
        for _ in range(100):
            if not await existing(runtime, ApiKey, [key]):
                break
            await asyncio.sleep(0.1)
        assert await existing(runtime, ApiKey, [key]) == set()
        assert not task.done()  # sleeping until the next interval
    assert task.cancelled()


async def test_a_failing_prune_is_logged_and_retried(
    runtime: AuthRuntime, auth_settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def flaky(engine: Any, settings: AuthSettings) -> housekeeping.PruneCounts:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return housekeeping.PruneCounts()

    monkeypatch.setattr(housekeeping, "prune_exclusively", flaky)
    settings = auth_settings.model_copy(
        update={"prune_interval_seconds": 0.05, "prune_initial_delay_seconds": 0}
    )
    task = asyncio.create_task(housekeeping.run_periodically(None, settings))  # type: ignore[arg-type]
    for _ in range(100):
        if calls >= 3:
            break
        await asyncio.sleep(0.02)
    assert not task.done()  # the failure did not end the loop
    assert calls >= 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_prune_drops_revocation_records_whose_last_token_has_expired(
    runtime: AuthRuntime,
) -> None:
    now = datetime.now(UTC)
    expired, live = f"test-expired-{uuid.uuid4()}", f"test-live-{uuid.uuid4()}"
    async with runtime.sessions() as db:
        repo = AuthRepository(db)
        await repo.add_revocations([expired], now - timedelta(seconds=1))
        await repo.add_revocations([live], now + DAY)
        await db.commit()
    async with runtime.sessions() as db:
        counts = await prune(db, runtime.settings)
    assert counts.revocations >= 1
    async with runtime.sessions() as db:
        left = set(
            (
                await db.execute(
                    select(Revocation.handle).where(Revocation.handle.in_([expired, live]))
                )
            )
            .scalars()
            .all()
        )
    assert left == {live}
