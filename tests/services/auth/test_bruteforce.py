"""Brute-force protection on every login route: failures counted per account and per
client IP (moving window in Redis); 429 + Retry-After in the route's own dialect."""

import asyncio

import httpx
from fastapi import FastAPI

from services.auth.settings import AuthSettings
from tests.services.auth.conftest import GATEWAY_PROOF, AuthDriver, asgi_client, random_ip


async def fail(app: FastAPI, path: str, username: str, *, ip: str | None = None) -> httpx.Response:
    async with asgi_client(app, ip) as c:
        return await c.post(path, json={"username": username, "password": "wrong-password-1"})


async def test_account_lockout_answers_429_in_every_dialect(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    # Failures spread over many addresses still lock the account.
    for _ in range(auth_settings.login_max_failures_per_account):
        assert (await fail(auth_app, "/auth/login", victim.username)).status_code == 401
    good = {"username": victim.username, "password": victim.password}
    async with asgi_client(auth_app) as c:
        profile = await c.post("/auth/login", json=good)
        skype = await c.post("/api/login", json=good)
        pyanalypt = await c.post("/api/auth/login/", json=good)
    for response in (profile, skype, pyanalypt):
        assert response.status_code == 429
        assert (
            1 <= int(response.headers["Retry-After"]) <= auth_settings.login_failure_window_seconds
        )
    assert profile.json()["error"] == "RATE_LIMIT_EXCEEDED"
    assert profile.json()["message"].startswith("Too many failed login attempts. Try again in")
    assert isinstance(profile.json()["retry_after"], float)
    assert skype.json()["error"].startswith("Too many failed login attempts")
    assert pyanalypt.json()["detail"].startswith("Too many failed login attempts")


async def test_lockout_by_email_counts_for_the_same_account(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    for i in range(auth_settings.login_max_failures_per_account):
        name = victim.email if i % 2 else victim.username
        assert (await fail(auth_app, "/api/auth/login/", name)).status_code == 401
    assert (await fail(auth_app, "/api/auth/login/", victim.username)).status_code == 429


async def test_ip_lockout_spans_accounts_and_spares_other_addresses(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    attacker_ip = random_ip()
    for i in range(auth_settings.login_max_failures_per_ip):
        assert (
            await fail(auth_app, "/api/login", f"nobody-{i}-{attacker_ip}", ip=attacker_ip)
        ).status_code == 401
    account = await driver.register()
    async with asgi_client(auth_app, attacker_ip) as c:
        blocked = await c.post(
            "/api/login", json={"username": account.username, "password": account.password}
        )
    assert blocked.status_code == 429
    async with asgi_client(auth_app) as c:
        elsewhere = await c.post(
            "/api/login", json={"username": account.username, "password": account.password}
        )
    assert elsewhere.status_code == 200


async def test_a_successful_login_does_not_unlock_someone_else(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim, attacker = await driver.register(), await driver.register()
    for _ in range(auth_settings.login_max_failures_per_account):
        await fail(auth_app, "/auth/login", victim.username)
    assert (await driver.login(attacker)).status_code == 200
    async with asgi_client(auth_app) as c:
        response = await c.post(
            "/auth/login", json={"username": victim.username, "password": victim.password}
        )
    assert response.status_code == 429


async def test_below_the_limit_the_right_password_works(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    account = await driver.register()
    for _ in range(auth_settings.login_max_failures_per_account - 1):
        await fail(auth_app, "/auth/login", account.username)
    assert (await driver.login(account)).status_code == 200


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    auth_app: FastAPI, driver: AuthDriver
) -> None:
    """A client that is not a trusted proxy cannot pick a fresh address per attempt."""
    account = await driver.register()
    transport = httpx.ASGITransport(app=auth_app, client=("198.51.100.7", 5555))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://auth.test", headers=GATEWAY_PROOF
    ) as c:
        for i in range(40):
            response = await c.post(
                "/auth/login",
                json={"username": f"ghost-{i}-{account.username}", "password": "wrong-password-1"},
                headers={"X-Forwarded-For": random_ip()},
            )
            if response.status_code == 429:
                break
        assert response.status_code == 429


async def test_a_concurrent_burst_gets_no_more_guesses_than_the_limit(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    """Guesses fired at once must not all pass the check before any failure is counted."""
    victim = await driver.register()
    burst = 5 * auth_settings.login_max_failures_per_account
    responses = await asyncio.gather(
        *(fail(auth_app, "/auth/login", victim.username) for _ in range(burst))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) <= auth_settings.login_max_failures_per_account, statuses
    assert set(statuses) <= {401, 429}
