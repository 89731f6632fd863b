"""Skype Parser accounts: spec/skype-parser-api.md, errors as {"error": ...}."""

import httpx
from fastapi import FastAPI

from tests.services.auth.conftest import GATEWAY_PROOF, AuthDriver, new_account


async def skype_register(client: httpx.AsyncClient, **overrides: str) -> tuple[dict[str, str], str]:
    account = new_account("securepassword")
    body = {
        "username": account.username,
        "password": account.password,
        "email": account.email,
        "display_name": "John Doe",
        **overrides,
    }
    response = await client.post("/api/register", json=body)
    assert response.status_code == 200, response.text
    return body, response.json()["api_key"]


async def test_register_with_the_spec_example_body(client: httpx.AsyncClient) -> None:
    # The spec's own body; only the names differ so reruns do not collide.
    body, api_key = await skype_register(client)
    response = await client.post(
        "/api/login", json={"username": body["username"], "password": "securepassword"}
    )
    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == {"username", "email", "display_name", "api_key"}
    assert profile["display_name"] == "John Doe"
    assert api_key.startswith("sk_")
    # Login shows a masked preview: the key is stored only as a hash.
    assert profile["api_key"] == api_key[:11] + "..."


async def test_login_sets_an_httponly_lax_session_cookie(client: httpx.AsyncClient) -> None:
    body, _ = await skype_register(client)
    response = await client.post(
        "/api/login", json={"username": body["username"], "password": body["password"]}
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here


async def test_cookie_is_secure_behind_a_tls_proxy(client: httpx.AsyncClient) -> None:
    body, _ = await skype_register(client)
    response = await client.post(
        "/api/login",
        json={"username": body["username"], "password": body["password"]},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" in response.headers["set-cookie"]


async def test_profile_by_api_key_and_by_session(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    body, api_key = await skype_register(client)
    by_key = await client.get("/api/profile", headers=await driver.bearer("api_key", api_key))
    assert by_key.status_code == 200
    assert by_key.json()["username"] == body["username"]
    assert by_key.json()["api_key"].endswith("...")
    login = await client.post(
        "/api/login", json={"username": body["username"], "password": body["password"]}
    )
    cookie = login.cookies["session"]
    by_session = await client.get("/api/profile", headers=await driver.bearer("session", cookie))
    assert by_session.status_code == 200
    assert by_session.json()["email"] == body["email"]


async def test_profile_requires_authentication(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/profile")
    assert response.status_code == 401
    assert "error" in response.json()


async def test_wrong_password_and_unknown_user_answer_the_same(client: httpx.AsyncClient) -> None:
    body, _ = await skype_register(client)
    wrong = await client.post(
        "/api/login", json={"username": body["username"], "password": "not-the-password"}
    )
    unknown = await client.post(
        "/api/login", json={"username": "nobody-" + body["username"], "password": "securepassword"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"] == "Invalid username or password"
    assert "set-cookie" not in wrong.headers


async def test_duplicate_registration_is_a_400_as_the_spec_documents(
    client: httpx.AsyncClient,
) -> None:
    body, _ = await skype_register(client)
    again = await client.post("/api/register", json={**body, "email": "other-" + body["email"]})
    assert again.status_code == 400
    assert again.json()["error"] == "Username already exists"
    same_email = await client.post(
        "/api/register", json={**body, "username": body["username"] + "x"}
    )
    assert same_email.status_code == 400
    assert same_email.json()["error"] == "Email already registered"
    # Case does not make a new account.
    upper = await client.post(
        "/api/register",
        json={**body, "username": body["username"].upper(), "email": "x" + body["email"]},
    )
    assert upper.status_code == 400


async def test_weak_password_is_a_400_with_a_reason(client: httpx.AsyncClient) -> None:
    account = new_account("password")
    response = await client.post(
        "/api/register",
        json={
            "username": account.username,
            "password": "password",
            "email": account.email,
            "display_name": "X",
        },
    )
    assert response.status_code == 400
    assert "too common" in response.json()["error"]


async def test_missing_fields_are_listed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/register", json={"username": "someone"})
    assert response.status_code == 400
    body = response.json()
    assert "password" in body["error"]
    assert "email" in body["error"]
    assert "display_name" in body["error"]
    assert {tuple(d["loc"]) for d in body["details"]} >= {("body", "password"), ("body", "email")}


async def test_role_in_the_body_is_ignored(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    _, api_key = await skype_register(client, role="admin")
    answer = await driver.introspect("api_key", api_key)
    assert answer["principal"]["role"] == "user"


async def test_regenerate_revokes_the_old_key_at_once(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    _, old_key = await skype_register(client)
    headers = await driver.bearer("api_key", old_key)
    response = await client.post("/api/regenerate-api-key", headers=headers)
    assert response.status_code == 200
    new_key = response.json()["api_key"]
    assert new_key.startswith("sk_")
    assert new_key != old_key
    assert (await driver.introspect("api_key", old_key)) == {"active": False}
    # The access token minted for the old key is dead too (its sid was revoked).
    assert (await client.get("/api/profile", headers=headers)).status_code == 401
    fresh = await client.get("/api/profile", headers=await driver.bearer("api_key", new_key))
    assert fresh.status_code == 200
    assert fresh.json()["api_key"] == new_key[:11] + "..."


async def test_logout_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    body, _ = await skype_register(client)
    login = await client.post(
        "/api/login", json={"username": body["username"], "password": body["password"]}
    )
    cookie = login.cookies["session"]
    headers = await driver.bearer("session", cookie)
    response = await client.post("/api/logout", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out successfully"}
    assert 'session=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await driver.introspect("session", cookie)) == {"active": False}
    assert (await client.get("/api/profile", headers=headers)).status_code == 401


async def test_logout_when_not_logged_in_is_401(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    response = await client.post("/api/logout")
    assert response.status_code == 401
    assert response.json()["error"] == "Not logged in"
    # An API key is not a session: nothing to log out, and the key keeps working.
    _, api_key = await skype_register(client)
    by_key = await client.post("/api/logout", headers=await driver.bearer("api_key", api_key))
    assert by_key.status_code == 401
    assert (await driver.introspect("api_key", api_key))["active"] is True


async def test_forwarded_proto_from_an_untrusted_peer_is_ignored(auth_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=auth_app, client=("198.51.100.9", 4444))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://auth.test", headers=GATEWAY_PROOF
    ) as c:
        body, _ = await skype_register(c)
        response = await c.post(
            "/api/login",
            json={"username": body["username"], "password": body["password"]},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert response.status_code == 200
    assert "Secure" not in response.headers["set-cookie"]
