"""Races and side channels a security review looks for, against the real database:
concurrent use of one refresh token, one TOTP code or one key regeneration, and
the work done for an unknown user versus a wrong password."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from services.auth.models import ApiKey, LoginSession, User
from services.auth.repository import AuthRepository
from services.auth.security import totp
from services.auth.security.passwords import PasswordHasher
from services.auth.service.runtime import AuthRuntime
from tests.services.auth.conftest import AuthDriver, TotpClock, asgi_client, new_account


async def pyanalypt_login(client: httpx.AsyncClient, driver: AuthDriver) -> tuple[Any, str]:
    account = await driver.register()
    login = await client.post(
        "/api/auth/login/", json={"username": account.username, "password": account.password}
    )
    assert login.status_code == 200, login.text
    return account, str(login.json()["refresh"])


async def test_concurrent_refreshes_with_one_token_never_both_succeed(
    auth_app: FastAPI, client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account, refresh = await pyanalypt_login(client, driver)

    async def exchange() -> httpx.Response:
        async with asgi_client(auth_app) as c:
            return await c.post("/api/auth/refresh/", json={"refresh": refresh})

    responses = await asyncio.gather(*(exchange() for _ in range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 5, [r.text for r in responses]
    # The losers presented a spent token: the family (session) is revoked for everyone.
    async with runtime.sessions() as db:
        revoked = (
            await db.execute(
                select(LoginSession.revoked_reason).where(
                    LoginSession.user_id == uuid.UUID(account.user_id)
                )
            )
        ).scalar_one()
    assert revoked == "refresh_token_reuse"


async def test_one_totp_step_is_claimed_once_under_concurrency(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    user_id = uuid.UUID(account.user_id)
    step = totp.current_step()

    async def claim() -> bool:
        async with runtime.sessions() as db:
            won = await AuthRepository(db).claim_totp_step(user_id, step)
            await asyncio.sleep(0.05)  # hold the row while the others try
            await db.commit()
            return won

    results = await asyncio.gather(*(claim() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_concurrent_logins_with_one_totp_code_let_one_in(
    auth_app: FastAPI, driver: AuthDriver, runtime: AuthRuntime, totp_clock: TotpClock
) -> None:
    account = await driver.register()
    secret = totp.new_secret()
    async with runtime.sessions() as db:
        await db.execute(
            update(User)
            .where(User.id == uuid.UUID(account.user_id))
            .values(totp_secret=runtime.box.seal(secret.encode()), totp_enabled=True)
        )
        await db.commit()
    code = totp_clock.code(secret)

    async def login() -> int:
        async with asgi_client(auth_app) as c:
            response = await c.post(
                "/auth/login",
                json={
                    "username": account.username,
                    "password": account.password,
                    "totp_code": code,
                },
            )
            return response.status_code

    statuses = sorted(await asyncio.gather(*(login() for _ in range(4))))
    assert statuses[0] == 200
    assert statuses.count(200) == 1, statuses


async def test_concurrent_skype_key_regenerations_leave_one_live_key(
    auth_app: FastAPI, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    headers = await driver.token(account)

    async def regenerate() -> httpx.Response:
        async with asgi_client(auth_app) as c:
            return await c.post("/api/regenerate-api-key", headers=headers)

    responses = await asyncio.gather(*(regenerate() for _ in range(6)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    async with runtime.sessions() as db:
        live = (
            (
                await db.execute(
                    select(ApiKey.id).where(
                        ApiKey.user_id == uuid.UUID(account.user_id),
                        ApiKey.kind == "sk",
                        ApiKey.revoked_at.is_(None),
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(live) == 1
    # Exactly one of the keys handed out works: the last one written.
    working = 0
    for response in responses:
        answer = await driver.introspect("api_key", response.json()["api_key"])
        working += answer["active"] is True
    assert working == 1


async def test_unknown_user_and_wrong_password_cost_the_same_verification(
    client: httpx.AsyncClient, driver: AuthDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await driver.register()
    verified: list[str] = []
    real = PasswordHasher._verify

    def spy(self: PasswordHasher, stored_hash: str, password: str) -> bool:
        verified.append(stored_hash.rsplit("$", 2)[0])  # algorithm and parameters only
        return real(self, stored_hash, password)

    monkeypatch.setattr(PasswordHasher, "_verify", spy)
    for username in (account.username, new_account().username, "root"):
        response = await client.post(
            "/auth/login", json={"username": username, "password": "Wrong-pass-123"}
        )
        assert response.status_code == 401
    assert len(verified) == 3
    assert len(set(verified)) == 1, verified  # one argon2id verification of the same cost
