"""Skype Parser accounts through the gateway (spec/skype-parser-api.md): the spec's
request bodies, the X-API-Key and the `session` cookie, errors as {"error": ...}."""

import httpx

from tests.e2e.accounts_helpers import other_ip


async def skype_user(gw: httpx.AsyncClient, unique: str) -> tuple[dict[str, str], str]:
    # The spec's body; the names get a suffix so the session's accounts never collide.
    body = {
        "username": f"johndoe{unique}",
        "password": "securepassword",
        "email": f"john.doe.{unique}@example.com",
        "display_name": "John Doe",
    }
    response = await gw.post("/api/register", json=body)
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["username"] == body["username"]
    assert profile["display_name"] == "John Doe"
    return body, profile["api_key"]


async def test_register_login_profile(gateway_client: httpx.AsyncClient, unique: str) -> None:
    body, api_key = await skype_user(gateway_client, unique)
    login = await gateway_client.post(
        "/api/login", json={"username": body["username"], "password": "securepassword"}
    )
    assert login.status_code == 200
    assert set(login.json()) == {"username", "email", "display_name", "api_key"}
    cookie = login.headers["set-cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie

    by_key = await gateway_client.get("/api/profile", headers={"X-API-Key": api_key})
    assert by_key.status_code == 200
    assert by_key.json()["email"] == body["email"]
    # The spec's curl: -b "session=YOUR_SESSION_COOKIE".
    session = login.cookies["session"]
    by_cookie = await gateway_client.get("/api/profile", headers={"Cookie": f"session={session}"})
    assert by_cookie.status_code == 200
    assert by_cookie.json()["username"] == body["username"]


async def test_wrong_password_unknown_user_duplicate_weak(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body, _ = await skype_user(gateway_client, unique)
    wrong = await gateway_client.post(
        "/api/login", json={"username": body["username"], "password": "wrong-password"}
    )
    unknown = await gateway_client.post(
        "/api/login", json={"username": f"nobody{unique}", "password": "securepassword"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"] == "Invalid username or password"
    duplicate = await gateway_client.post("/api/register", json=body)
    assert duplicate.status_code == 400
    assert duplicate.json()["error"] == "Username already exists"
    weak = await gateway_client.post(
        "/api/register",
        json={
            **body,
            "username": f"weak{unique}",
            "email": f"weak{unique}@example.com",
            "password": "12345678",
        },
    )
    assert weak.status_code == 400
    assert "too common" in weak.json()["error"]


async def test_regenerate_api_key_takes_effect_at_once(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    _, old_key = await skype_user(gateway_client, unique)
    assert (
        await gateway_client.get("/api/profile", headers={"X-API-Key": old_key})
    ).status_code == 200
    regenerated = await gateway_client.post(
        "/api/regenerate-api-key", headers={"X-API-Key": old_key}
    )
    assert regenerated.status_code == 200
    new_key = regenerated.json()["api_key"]
    assert new_key != old_key
    # The gateway had the old key cached from the call above: revocation evicts it.
    stale = await gateway_client.get("/api/profile", headers={"X-API-Key": old_key})
    assert stale.status_code == 401
    assert "error" in stale.json()
    fresh = await gateway_client.get(
        "/api/profile", headers={"X-API-Key": new_key, "X-Forwarded-For": other_ip()}
    )
    assert fresh.status_code == 200


async def test_logout_with_the_session_cookie(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body, _ = await skype_user(gateway_client, unique)
    login = await gateway_client.post(
        "/api/login", json={"username": body["username"], "password": body["password"]}
    )
    cookie = {"Cookie": f"session={login.cookies['session']}"}
    assert (await gateway_client.get("/api/profile", headers=cookie)).status_code == 200
    logout = await gateway_client.post("/api/logout", headers=cookie)
    assert logout.status_code == 200
    assert logout.json() == {"message": "Logged out successfully"}
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert (await gateway_client.get("/api/profile", headers=cookie)).status_code == 401
    not_logged_in = await gateway_client.post("/api/logout")
    assert not_logged_in.status_code == 401
    assert "error" in not_logged_in.json()
