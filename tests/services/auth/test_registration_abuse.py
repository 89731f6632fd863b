"""Issue 8 §6: keys never exceed their creator, registration cannot enumerate accounts
at speed, and e-mail addresses are compared in one normalised form (no look-alikes)."""

from __future__ import annotations

import time
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.auth.models import User
from services.auth.security.credentials import new_api_key_row
from services.auth.service.runtime import AuthRuntime
from services.auth.settings import AuthSettings
from tests.services.auth.conftest import (
    ADMIN_PASSWORD,
    STRONG_PASSWORD,
    AuthDriver,
    asgi_client,
    new_account,
    random_ip,
)


async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    login = await client.post("/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


# Keys


async def test_a_user_cannot_mint_a_key_with_the_admin_permission(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    headers = await driver.token(await driver.register())
    for permissions in (["admin"], ["read", "admin"]):
        response = await client.post(
            "/auth/api-keys/generate",
            json={"name": "escalate", "permissions": permissions},
            headers=headers,
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "INSUFFICIENT_PERMISSIONS"
    assert (await client.get("/auth/api-keys", headers=headers)).json()["total"] == 0
    # What the account's role allows is fine, "*" included (it means "what the role allows").
    for permissions in (["read", "write", "connect", "export"], ["*"]):
        ok = await client.post(
            "/auth/api-keys/generate",
            json={"name": "fine", "permissions": permissions},
            headers=headers,
        )
        assert ok.status_code == 200, ok.text


async def test_an_administrator_may_mint_an_admin_key(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    response = await client.post(
        "/auth/api-keys/generate",
        json={"name": "ops", "permissions": ["admin", "read"]},
        headers=await admin_headers(client),
    )
    assert response.status_code == 200, response.text
    answer = await driver.introspect("api_key", response.json()["api_key"])
    assert answer["principal"]["scp"] == ["admin", "read"]
    assert answer["principal"]["role"] == "admin"


async def test_a_permission_outside_the_vocabulary_is_a_validation_error(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    headers = await driver.token(await driver.register())
    response = await client.post(
        "/auth/api-keys/generate",
        json={"name": "bad", "permissions": ["delete"]},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"
    schema = (await client.get("/openapi.json")).json()
    request = schema["components"]["schemas"]["ApiKeyRequest"]["properties"]["permissions"]
    assert set(request["items"]["enum"]) == {
        "*",
        "read",
        "write",
        "connect",
        "export",
        "chat",
        "admin",
    }


async def test_a_stored_permission_the_role_lacks_is_not_honoured(
    driver: AuthDriver, runtime: AuthRuntime
) -> None:
    """A key written before the check (or whose owner was demoted) loses what the
    owner's role does not allow when it is used."""
    account = await driver.register()
    row, full = new_api_key_row(
        uuid.UUID(account.user_id), "pk", name="old", permissions=["admin", "read"]
    )
    async with runtime.sessions() as db:
        db.add(row)
        await db.commit()
    answer = await driver.introspect("api_key", full)
    assert answer["active"] is True
    assert answer["principal"]["scp"] == ["read"]


# Registration limits


async def test_registration_attempts_per_client_are_limited(
    auth_app: FastAPI, driver: AuthDriver, auth_settings: AuthSettings
) -> None:
    """The documented answers stay (a taken name is a 400 on Profile), but one client
    gets only so many of them: enumeration cannot run at speed."""
    existing = await driver.register()
    limit = auth_settings.registration_max_per_client
    ip = random_ip()
    async with asgi_client(auth_app, ip) as c:
        for i in range(limit):
            probe = await c.post(
                "/auth/register",
                json={
                    "username": existing.username,
                    "email": f"probe{i}-{ip}@example.com",
                    "password": STRONG_PASSWORD,
                },
            )
            assert probe.status_code == 400
            assert probe.json()["detail"] == "Username already exists"
        refused = await c.post(
            "/auth/register",
            json={
                "username": f"n{uuid.uuid4().hex[:10]}",
                "email": f"new-{uuid.uuid4().hex[:6]}@example.com",
                "password": STRONG_PASSWORD,
            },
        )
        for path in ("/api/register", "/api/auth/register/", "/auth/registration"):
            other = await c.post(path, json={"username": "x", "email": "y", "password": "z"})
            # Malformed bodies fail validation first and are not counted.
            assert other.status_code in (400, 422), (path, other.text)
        skype = await c.post(
            "/api/register",
            json={
                "username": f"s{uuid.uuid4().hex[:10]}",
                "email": f"s-{uuid.uuid4().hex[:6]}@example.com",
                "password": STRONG_PASSWORD,
                "display_name": "S",
            },
        )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "RATE_LIMIT_EXCEEDED"
    assert refused.json()["message"].startswith("Too many registrations")
    assert refused.headers["X-RateLimit-Limit"] == str(limit)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= auth_settings.registration_window_seconds
    assert abs(int(refused.headers["X-RateLimit-Reset"]) - (time.time() + retry_after)) <= 2
    assert skype.status_code == 429
    assert skype.json()["error"].startswith("Too many registrations")
    # Another client is unaffected.
    async with asgi_client(auth_app) as elsewhere:
        fresh = new_account()
        ok = await elsewhere.post(
            "/auth/register",
            json={"username": fresh.username, "email": fresh.email, "password": fresh.password},
        )
        assert ok.status_code == 201, ok.text


async def test_an_administrator_is_not_limited_when_creating_accounts(
    auth_app: FastAPI, auth_settings: AuthSettings
) -> None:
    ip = random_ip()
    async with asgi_client(auth_app, ip) as c:
        headers = await admin_headers(c)
        for _ in range(auth_settings.registration_max_per_client + 2):
            account = new_account()
            response = await c.post(
                "/auth/register",
                json={
                    "username": account.username,
                    "email": account.email,
                    "password": account.password,
                    "role": "service",
                },
                headers=headers,
            )
            assert response.status_code == 201, response.text


# E-mail normalisation


async def register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/auth/register",
        json={
            "username": f"u{uuid.uuid4().hex[:12]}",
            "email": email,
            "password": STRONG_PASSWORD,
        },
    )


async def test_a_compatibility_form_of_a_taken_address_is_taken(auth_app: FastAPI) -> None:
    local = f"alice{uuid.uuid4().hex[:8]}"
    async with asgi_client(auth_app) as c:
        first = await register(c, f"{local}@example.com")
        assert first.status_code == 201, first.text
        # Fullwidth letters (NFKC folds them), upper case in either part.
        fullwidth = "".join(chr(ord(ch) + 0xFEE0) if ch.isalpha() else ch for ch in local)
        for variant in (
            f"{fullwidth}@example.com",
            f"{local.upper()}@EXAMPLE.COM",
            f"{local}@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",  # fullwidth EXAMPLE
        ):
            again = await register(c, variant)
            assert again.status_code == 400, (variant, again.text)
            assert again.json()["detail"] == "Email already registered"


async def test_a_mixed_script_look_alike_address_is_refused(auth_app: FastAPI) -> None:
    async with asgi_client(auth_app) as c:
        cyrillic_a = "\u0430"
        for address in (
            f"p{cyrillic_a}ypal{uuid.uuid4().hex[:6]}@example.com",
            f"bob{uuid.uuid4().hex[:6]}@ex{cyrillic_a}mple.com",
        ):
            response = await register(c, address)
            assert response.status_code == 400, (address, response.text)
            assert response.json()["code"] == "email_not_allowed"
        # One script throughout is a real address.
        alisa = "\u0430\u043b\u0438\u0441\u0430"  # Cyrillic, digits are of no script
        whole = await register(c, f"{alisa}{str(uuid.uuid4().int)[:6]}@example.com")
        assert whole.status_code == 201, whole.text


async def test_addresses_are_stored_in_nfkc_and_log_in_by_any_form(
    auth_app: FastAPI, runtime: AuthRuntime
) -> None:
    local = f"fi{uuid.uuid4().hex[:8]}"
    ligature = "\ufb01" + local[2:]
    async with asgi_client(auth_app) as c:
        created = await register(c, f"{ligature}@Example.org")
        assert created.status_code == 201, created.text
        user_id = created.json()["user"]["id"]
        assert created.json()["user"]["email"] == f"{local}@example.org"
        login = await c.post(
            "/auth/login",
            json={"username": f"{local.upper()}@EXAMPLE.org", "password": STRONG_PASSWORD},
        )
        assert login.status_code == 200, login.text
    async with runtime.sessions() as db:
        stored = (
            await db.execute(
                select(User.email, User.email_normalized).where(User.id == uuid.UUID(user_id))
            )
        ).one()
    assert tuple(stored) == (f"{local}@example.org", f"{local}@example.org")


async def test_usernames_stay_ascii(client: httpx.AsyncClient) -> None:
    for username in ("\u0430lice01", "alice01\n", "\uff41lice01", "alice 01", "ali\u0301ce"):
        response = await client.post(
            "/auth/register",
            json={
                "username": username,
                "email": f"{uuid.uuid4().hex[:8]}@example.com",
                "password": STRONG_PASSWORD,
            },
        )
        assert response.status_code == 400, (username, response.text)
        assert response.json()["error"] == "VALIDATION_ERROR"
