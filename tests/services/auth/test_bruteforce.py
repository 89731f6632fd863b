"""Brute-force protection on every login route (issue 8 §2): failures counted per
(client, account), per client and per account; the strong limit is the pair's, so a
guessing client cannot lock the owner out, while the account's ceiling bounds guessing
from many clients. 429 + Retry-After + X-RateLimit-* of the refusing throttle, in the
route's own dialect.

Test settings (conftest): 3 failures per client and account, 12 per client, 20 per
account, delays after 8 account failures.
"""

import asyncio
import time

import httpx
from fastapi import FastAPI

from services.auth.security.throttle import ThrottlePolicy, client_key
from services.auth.settings import AuthSettings
from tests.services.auth.conftest import GATEWAY_PROOF, AuthDriver, asgi_client, random_ip

WRONG = "wrong-password-1"


async def attempt(
    app: FastAPI, path: str, username: str, password: str = WRONG, *, ip: str | None = None
) -> httpx.Response:
    async with asgi_client(app, ip) as c:
        return await c.post(path, json={"username": username, "password": password})


def assert_headers_match_body(response: httpx.Response, limit: int) -> None:
    """The headers describe the throttle that refused, as the body does."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    reset = int(response.headers["X-RateLimit-Reset"])
    assert abs(reset - (time.time() + retry_after)) <= 2
    body = response.json()
    if "retry_after" in body:
        assert abs(body["retry_after"] - retry_after) < 1
        assert body["limit"] == limit


async def test_a_client_that_keeps_guessing_is_refused_in_every_dialect(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    attacker = random_ip()
    for _ in range(auth_settings.login_max_failures_per_client_and_account):
        assert (
            await attempt(auth_app, "/auth/login", victim.username, ip=attacker)
        ).status_code == 401
    # Even the right password from that client is refused now.
    profile = await attempt(auth_app, "/auth/login", victim.username, victim.password, ip=attacker)
    skype = await attempt(auth_app, "/api/login", victim.username, victim.password, ip=attacker)
    pyanalypt = await attempt(
        auth_app, "/api/auth/login/", victim.username, victim.password, ip=attacker
    )
    for response in (profile, skype, pyanalypt):
        assert_headers_match_body(response, auth_settings.login_max_failures_per_client_and_account)
        assert int(response.headers["Retry-After"]) <= auth_settings.login_failure_window_seconds
    assert profile.json()["error"] == "RATE_LIMIT_EXCEEDED"
    assert profile.json()["message"].startswith("Too many failed login attempts")
    assert isinstance(profile.json()["retry_after"], float)
    assert skype.json()["error"].startswith("Too many failed login attempts")
    assert pyanalypt.json()["detail"].startswith("Too many failed login attempts")


async def test_the_owner_gets_in_from_another_client_while_others_guess(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    """The issue's attack: guesses from one client up to its limit, then from rotating
    addresses (more than the old per-account lockout allowed), and the owner, from a
    client of their own, logs in with the right password."""
    victim = await driver.register()
    attacker = random_ip()
    for _ in range(auth_settings.login_max_failures_per_client_and_account):
        await attempt(auth_app, "/auth/login", victim.username, ip=attacker)
    for _ in range(auth_settings.login_delay_after_failures):
        assert (await attempt(auth_app, "/auth/login", victim.username)).status_code == 401
    assert (await attempt(auth_app, "/auth/login", victim.username, ip=attacker)).status_code == 429
    for path in ("/auth/login", "/api/login", "/api/auth/login/"):
        owner = await attempt(auth_app, path, victim.username, victim.password)
        assert owner.status_code == 200, (path, owner.text)


async def test_the_account_ceiling_bounds_guessing_from_many_clients(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    ceiling = auth_settings.login_max_failures_per_account
    statuses = [
        (await attempt(auth_app, "/api/auth/login/", victim.username)).status_code
        for _ in range(ceiling + 5)
    ]
    assert statuses == [401] * ceiling + [429] * 5
    owner = await attempt(auth_app, "/auth/login", victim.username, victim.password)
    assert_headers_match_body(owner, ceiling)
    assert int(owner.headers["Retry-After"]) <= auth_settings.login_account_window_seconds


async def test_progressive_delays_slow_a_client_that_failed_not_a_fresh_one(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    repeat = random_ip()
    assert (await attempt(auth_app, "/auth/login", victim.username, ip=repeat)).status_code == 401
    threshold = auth_settings.login_delay_after_failures
    for _ in range(threshold):
        assert (await attempt(auth_app, "/auth/login", victim.username)).status_code == 401
    # 9 account failures: a client that failed before waits 2 s after the latest one.
    slowed = await attempt(auth_app, "/auth/login", victim.username, ip=repeat)
    assert_headers_match_body(slowed, 1)
    assert slowed.json()["window"] == 2
    assert 1 <= int(slowed.headers["Retry-After"]) <= 2
    # A client with no failure on the account is not delayed.
    assert (await attempt(auth_app, "/auth/login", victim.username)).status_code == 401
    assert (
        await attempt(auth_app, "/auth/login", victim.username, victim.password)
    ).status_code == 200


def test_the_delay_doubles_past_the_threshold_up_to_its_cap() -> None:
    policy = ThrottlePolicy(delay_after=10, delay_cap_seconds=60)
    assert [policy.delay(n) for n in (0, 9, 10, 11, 12, 15, 16, 100)] == [
        0,
        0,
        1,
        2,
        4,
        32,
        60,
        60,
    ]


def test_an_ipv6_client_is_its_64_prefix() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert client_key("198.51.100.7") == "198.51.100.7"
    assert client_key(None) == "unknown"


async def test_rotating_addresses_inside_one_ipv6_prefix_are_one_client(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    limit = auth_settings.login_max_failures_per_client_and_account
    prefix = f"2001:db8:{int(time.time()) % 65536:x}:1::"
    for i in range(limit):
        response = await attempt(auth_app, "/auth/login", victim.username, ip=f"{prefix}{i + 1}")
        assert response.status_code == 401
    blocked = await attempt(auth_app, "/auth/login", victim.username, ip=f"{prefix}ff")
    assert blocked.status_code == 429


async def test_guesses_by_email_and_username_count_for_the_same_account(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim = await driver.register()
    ip = random_ip()
    for i in range(auth_settings.login_max_failures_per_client_and_account):
        name = victim.email if i % 2 else victim.username
        assert (await attempt(auth_app, "/api/auth/login/", name, ip=ip)).status_code == 401
    assert (await attempt(auth_app, "/api/auth/login/", victim.username, ip=ip)).status_code == 429


async def test_a_client_spraying_accounts_is_refused_and_others_are_not(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    attacker_ip = random_ip()
    for i in range(auth_settings.login_max_failures_per_ip):
        response = await attempt(
            auth_app, "/api/login", f"nobody-{i}-{attacker_ip}", ip=attacker_ip
        )
        assert response.status_code == 401
    account = await driver.register()
    blocked = await attempt(
        auth_app, "/api/login", account.username, account.password, ip=attacker_ip
    )
    assert_headers_match_body(blocked, auth_settings.login_max_failures_per_ip)
    elsewhere = await attempt(auth_app, "/api/login", account.username, account.password)
    assert elsewhere.status_code == 200


async def test_a_successful_login_does_not_unlock_someone_else(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    victim, attacker = await driver.register(), await driver.register()
    ip = random_ip()
    for _ in range(auth_settings.login_max_failures_per_client_and_account):
        await attempt(auth_app, "/auth/login", victim.username, ip=ip)
    assert (
        await attempt(auth_app, "/auth/login", attacker.username, attacker.password, ip=ip)
    ).status_code == 200
    response = await attempt(auth_app, "/auth/login", victim.username, victim.password, ip=ip)
    assert response.status_code == 429


async def test_below_the_limit_the_right_password_works(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    account = await driver.register()
    ip = random_ip()
    for _ in range(auth_settings.login_max_failures_per_client_and_account - 1):
        await attempt(auth_app, "/auth/login", account.username, ip=ip)
    assert (
        await attempt(auth_app, "/auth/login", account.username, account.password, ip=ip)
    ).status_code == 200


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    auth_app: FastAPI, driver: AuthDriver
) -> None:
    """A client that is not a trusted proxy cannot pick a fresh address per attempt."""
    account = await driver.register()
    transport = httpx.ASGITransport(app=auth_app, client=("198.51.100.7", 5555))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://auth.test", headers=GATEWAY_PROOF
    ) as c:
        for _ in range(10):
            response = await c.post(
                "/auth/login",
                json={"username": account.username, "password": WRONG},
                headers={"X-Forwarded-For": random_ip()},
            )
            if response.status_code == 429:
                break
        assert response.status_code == 429


async def test_a_concurrent_burst_gets_no_more_guesses_than_the_limit(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    """Guesses fired at once from one client must not all pass the check before any
    failure is counted."""
    victim = await driver.register()
    limit = auth_settings.login_max_failures_per_client_and_account
    ip = random_ip()
    responses = await asyncio.gather(
        *(attempt(auth_app, "/auth/login", victim.username, ip=ip) for _ in range(5 * limit))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) <= limit, statuses
    assert set(statuses) <= {401, 429}


async def test_guesses_at_an_unknown_address_count_under_its_normalised_form(
    auth_app: FastAPI, auth_settings: AuthSettings
) -> None:
    """Variants of one non-existent address (case, fullwidth) are one throttle key, as
    they would be one account."""
    ip = random_ip()
    local = f"ghost{int(time.time() * 1000) % 10**8}"
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in local)
    variants = [f"{local}@example.com", f"{local.upper()}@EXAMPLE.COM", f"{fullwidth}@example.com"]
    limit = auth_settings.login_max_failures_per_client_and_account
    for i in range(limit):
        response = await attempt(auth_app, "/auth/login", variants[i % 3], ip=ip)
        assert response.status_code == 401
    assert (await attempt(auth_app, "/auth/login", variants[0], ip=ip)).status_code == 429
