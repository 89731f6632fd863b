"""Profile & Engagement accounts and API keys: spec/profile-engagement-api.md,
errors as {"error": "<CODE>", "message", "details"} (+ "detail")."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from services.auth.settings import AuthSettings
from tests.services.auth.conftest import ADMIN_PASSWORD, DEV_KEY, AuthDriver, new_account


async def test_register_with_the_spec_example_body(client: httpx.AsyncClient) -> None:
    account = new_account("SecurePassword123!")
    response = await client.post(
        "/auth/register",
        json={
            "username": account.username,
            "email": account.email,
            "password": "SecurePassword123!",
            "role": "user",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "User registered successfully"
    assert set(body["user"]) == {"id", "username", "email", "role", "created_at"}
    assert body["user"]["role"] == "user"
    assert body["user"]["created_at"].endswith("Z")


async def test_duplicate_username_is_the_specs_400(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    account = await driver.register()
    response = await client.post(
        "/auth/register",
        json={
            "username": account.username,
            "email": "other@example.com",
            "password": account.password,
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Username already exists"
    assert body["error"] == "ACCOUNT_EXISTS"


async def test_login_with_the_spec_example_body(
    client: httpx.AsyncClient, auth_settings: AuthSettings
) -> None:
    # The spec logs in as admin / Admin123!; this app's bootstrap admin is "root".
    response = await client.post(
        "/auth/login", json={"username": "root", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == auth_settings.access_token_ttl_seconds
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "root",
        "email": "root@example.com",
        "role": "admin",
    }
    assert body["refresh_token"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session_id=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


async def test_wrong_password_is_the_specs_401(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    account = await driver.register()
    response = await client.post(
        "/auth/login", json={"username": account.username, "password": "nope-nope"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid username or password"
    assert response.json()["error"] == "INVALID_CREDENTIALS"


async def test_nobody_makes_themselves_admin(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    for role in ("admin", "service"):
        account = new_account()
        body = {
            "username": account.username,
            "email": account.email,
            "password": account.password,
            "role": role,
        }
        anonymous = await client.post("/auth/register", json=body)
        assert anonymous.status_code == 403
        assert anonymous.json()["error"] == "INSUFFICIENT_PERMISSIONS"
        # A signed-in ordinary user cannot either.
        user = await driver.register()
        as_user = await client.post("/auth/register", json=body, headers=await driver.token(user))
        assert as_user.status_code == 403
    unknown_role = await client.post("/auth/register", json={**body, "role": "superuser"})
    assert unknown_role.status_code == 400


async def test_admin_creates_admins_and_service_accounts(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    admin = await client.post("/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    account = new_account()
    body = {
        "username": account.username,
        "email": account.email,
        "password": account.password,
        "role": "service",
    }
    response = await client.post("/auth/register", json=body, headers=headers)
    assert response.status_code == 201
    assert response.json()["user"]["role"] == "service"
    login = await driver.login(account)
    assert login.json()["user"]["role"] == "service"


async def test_a_narrow_admin_key_cannot_create_admins(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    admin = await client.post("/auth/login", json={"username": "root", "password": ADMIN_PASSWORD})
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    key = await client.post(
        "/auth/api-keys/generate", json={"name": "reader", "permissions": ["read"]}, headers=headers
    )
    read_only = await driver.bearer("api_key", key.json()["api_key"])
    account = new_account()
    body = {
        "username": account.username,
        "email": account.email,
        "password": account.password,
        "role": "admin",
    }
    assert (await client.post("/auth/register", json=body, headers=read_only)).status_code == 403


async def test_generate_list_and_revoke_keys(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    account = await driver.register()
    headers = await driver.token(account)
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    response = await client.post(
        "/auth/api-keys/generate",
        json={"name": "New API Key", "permissions": ["read", "write"], "expires_at": expires},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    generated = response.json()
    key = generated["api_key"]
    assert key.startswith("pk_")
    assert (
        generated["warning"]
        == "This is the only time the full API key will be shown. Store it securely."
    )
    info = generated["key_info"]
    assert set(info) == {"id", "name", "key_preview", "permissions", "created_at", "expires_at"}
    assert info["key_preview"] == key[:11] + "..."
    assert info["permissions"] == ["read", "write"]

    answer = await driver.introspect("api_key", key)
    assert answer["active"] is True
    assert answer["principal"]["scp"] == ["read", "write"]
    assert answer["sid"] == f"key:{info['id']}"

    listing = await client.get("/auth/api-keys", headers=headers)
    assert listing.status_code == 200
    keys = listing.json()
    assert keys["total"] == len(keys["api_keys"]) == 1
    listed = keys["api_keys"][0]
    assert set(listed) == {
        "id",
        "name",
        "key_preview",
        "permissions",
        "created_at",
        "last_used",
        "expires_at",
    }
    assert listed["last_used"] is not None  # the introspection above used it
    assert key not in listing.text

    by_key = await driver.bearer("api_key", key)
    revoke = await client.delete(f"/auth/api-keys/{info['id']}", headers=headers)
    assert revoke.status_code == 200
    assert (await driver.introspect("api_key", key)) == {"active": False}
    assert (await client.get("/auth/api-keys", headers=by_key)).status_code == 401
    assert (await client.get("/auth/api-keys", headers=headers)).json()["total"] == 0
    again = await client.delete(f"/auth/api-keys/{info['id']}", headers=headers)
    assert again.status_code == 404


async def test_another_users_key_is_404(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    owner, other = await driver.register(), await driver.register()
    created = await client.post(
        "/auth/api-keys/generate",
        json={"name": "mine", "permissions": ["read"]},
        headers=await driver.token(owner),
    )
    key_id = created.json()["key_info"]["id"]
    response = await client.delete(f"/auth/api-keys/{key_id}", headers=await driver.token(other))
    assert response.status_code == 404
    assert response.json()["error"] == "API_KEY_NOT_FOUND"
    assert (await driver.introspect("api_key", created.json()["api_key"]))["active"] is True
    assert (
        await client.delete("/auth/api-keys/not-a-uuid", headers=await driver.token(other))
    ).status_code == 404


async def test_a_key_cannot_mint_more_than_it_holds(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    account = await driver.register()
    created = await client.post(
        "/auth/api-keys/generate",
        json={"name": "reader", "permissions": ["read"]},
        headers=await driver.token(account),
    )
    reader = await driver.bearer("api_key", created.json()["api_key"])
    for permissions in (["*"], ["read", "write"]):
        response = await client.post(
            "/auth/api-keys/generate",
            json={"name": "escalate", "permissions": permissions},
            headers=reader,
        )
        assert response.status_code == 403
    same = await client.post(
        "/auth/api-keys/generate", json={"name": "ok", "permissions": ["read"]}, headers=reader
    )
    assert same.status_code == 200


async def test_past_and_near_expiry(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    account = await driver.register()
    headers = await driver.token(account)
    # The spec's own example expiry (2025-12-31) is in the past by now: the example
    # still runs, and the key it creates is expired from the start.
    past = await client.post(
        "/auth/api-keys/generate",
        json={
            "name": "New API Key",
            "permissions": ["read", "write"],
            "expires_at": "2025-12-31T23:59:59.000Z",
        },
        headers=headers,
    )
    assert past.status_code == 200
    assert past.json()["key_info"]["expires_at"] == "2025-12-31T23:59:59Z"
    assert "already expired" in past.json()["warning"]
    assert (await driver.introspect("api_key", past.json()["api_key"])) == {"active": False}
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    created = await client.post(
        "/auth/api-keys/generate",
        json={"name": "brief", "permissions": ["read"], "expires_at": soon},
        headers=headers,
    )
    answer = await driver.introspect("api_key", created.json()["api_key"])
    assert answer["active"] is True
    assert answer["expires_in"] <= 2
    await asyncio.sleep(2.1)
    assert (await driver.introspect("api_key", created.json()["api_key"])) == {"active": False}


async def test_invalid_permissions_are_refused(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    headers = await driver.token(await driver.register())
    response = await client.post(
        "/auth/api-keys/generate",
        json={"name": "bad", "permissions": ["Read Everything"]},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"


async def test_development_key_is_a_service_principal(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    answer = await driver.introspect("api_key", DEV_KEY)
    assert answer["active"] is True
    principal = answer["principal"]
    assert principal["role"] == "service"
    assert principal["scp"] == ["*"]
    assert principal["amr"] == "dev_key"
    assert answer["sid"] == "key:dev"
    headers = await driver.bearer("api_key", DEV_KEY)
    listing = await client.get("/auth/api-keys", headers=headers)
    assert listing.status_code == 200
    generated = await client.post(
        "/auth/api-keys/generate",
        json={"name": "Production Key", "permissions": ["read", "write", "connect"]},
        headers=headers,
    )
    assert generated.status_code == 200


async def test_the_development_username_cannot_be_registered(
    client: httpx.AsyncClient, auth_settings: AuthSettings
) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "username": auth_settings.dev_username,
            "email": "dev-person@example.com",
            "password": "Str0ng_Pass!",
        },
    )
    assert response.status_code == 400
