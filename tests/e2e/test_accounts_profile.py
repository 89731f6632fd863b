"""Profile & Engagement accounts and API keys through the gateway
(spec/profile-engagement-api.md): the development key, pk_ keys, roles."""

import httpx

from deploy.platform import RunningPlatform
from tests.e2e.accounts_helpers import bearer, other_ip, person, register


async def admin_headers(gw: httpx.AsyncClient, platform: RunningPlatform) -> dict[str, str]:
    # The spec's login body ("admin" / "Admin123!"), with the platform's bootstrap admin.
    response = await gw.post(
        "/auth/login",
        json={"username": platform.admin_username, "password": platform.admin_password},
        headers={"X-Forwarded-For": other_ip()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["role"] == "admin"
    # The Profile token fields, and the Files login's message beside them (one shared login).
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "user",
        "refresh_token",
        "message",
    }
    assert body["message"] == "Login successful"
    return {"Authorization": f"Bearer {body['access_token']}"}


async def test_register_with_the_spec_body(gateway_client: httpx.AsyncClient, unique: str) -> None:
    response = await gateway_client.post(
        "/auth/register",
        json={
            "username": f"newuser{unique}",
            "email": f"user{unique}@example.com",
            "password": "SecurePassword123!",
            "role": "user",
        },
    )
    assert response.status_code == 201
    assert response.json()["message"] == "User registered successfully"
    assert response.json()["user"]["role"] == "user"
    again = await gateway_client.post(
        "/auth/register",
        json={
            "username": f"newuser{unique}",
            "email": f"x{unique}@example.com",
            "password": "SecurePassword123!",
        },
    )
    assert again.status_code == 400
    assert again.json()["detail"] == "Username already exists"


async def test_login_answers_tokens_and_the_files_cookie(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    who = person(unique)
    await register(gateway_client, who)
    response = await gateway_client.post(
        "/auth/login",
        json={"username": who.username, "password": who.password},
        headers=who.headers,
    )
    assert response.status_code == 200
    assert response.json()["expires_in"] == 900
    assert "session_id=" in response.headers["set-cookie"]
    wrong = await gateway_client.post(
        "/auth/login",
        json={"username": who.username, "password": "Wrong_Pass!1"},
        headers=who.headers,
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Invalid username or password"


async def test_role_escalation_is_refused(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform, unique: str
) -> None:
    user = person(unique)
    await register(gateway_client, user)
    candidate = {
        "username": f"boss{unique}",
        "email": f"boss{unique}@example.com",
        "password": "SecurePassword123!",
        "role": "admin",
    }
    anonymous = await gateway_client.post("/auth/register", json=candidate)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"] == "INSUFFICIENT_PERMISSIONS"
    as_user = await gateway_client.post(
        "/auth/register", json=candidate, headers=await bearer(gateway_client, user)
    )
    assert as_user.status_code == 403
    as_admin = await gateway_client.post(
        "/auth/register", json=candidate, headers=await admin_headers(gateway_client, platform)
    )
    assert as_admin.status_code == 201
    assert as_admin.json()["user"]["role"] == "admin"


async def test_development_key_generates_and_lists_keys(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    assert platform.dev_api_key
    dev = {"X-API-Key": platform.dev_api_key}
    # The spec's example body (its expiry date has passed since; the key is born expired).
    generated = await gateway_client.post(
        "/auth/api-keys/generate",
        json={
            "name": "New API Key",
            "permissions": ["read", "write"],
            "expires_at": "2025-12-31T23:59:59.000Z",
        },
        headers=dev,
    )
    assert generated.status_code == 200, generated.text
    assert generated.json()["api_key"].startswith("pk_")
    production = await gateway_client.post(
        "/auth/api-keys/generate",
        json={"name": "Production Key", "permissions": ["read", "write", "connect"]},
        headers=dev,
    )
    assert production.status_code == 200
    listing = await gateway_client.get("/auth/api-keys", headers=dev)
    assert listing.status_code == 200
    ids = {k["id"] for k in listing.json()["api_keys"]}
    assert production.json()["key_info"]["id"] in ids
    assert listing.json()["total"] == len(listing.json()["api_keys"])


async def test_pk_key_works_and_revocation_takes_effect_at_once(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    owner = person(unique)
    await register(gateway_client, owner)
    headers = await bearer(gateway_client, owner)
    created = await gateway_client.post(
        "/auth/api-keys/generate", json={"name": "ci", "permissions": ["read"]}, headers=headers
    )
    key, key_id = created.json()["api_key"], created.json()["key_info"]["id"]
    by_key = {"X-API-Key": key, **owner.headers}
    listing = await gateway_client.get("/auth/api-keys", headers=by_key)
    assert listing.status_code == 200
    assert listing.json()["api_keys"][0]["key_preview"] == key[:11] + "..."
    # A read-only key cannot mint a broader one.
    escalate = await gateway_client.post(
        "/auth/api-keys/generate", json={"name": "x", "permissions": ["*"]}, headers=by_key
    )
    assert escalate.status_code == 403
    # Another user cannot see or revoke it.
    stranger = person(unique, "stranger")
    await register(gateway_client, stranger)
    foreign = await gateway_client.delete(
        f"/auth/api-keys/{key_id}", headers=await bearer(gateway_client, stranger)
    )
    assert foreign.status_code == 404
    revoked = await gateway_client.delete(f"/auth/api-keys/{key_id}", headers=headers)
    assert revoked.status_code == 200
    after = await gateway_client.get("/auth/api-keys", headers=by_key)
    assert after.status_code == 401
