"""PyAnalypt accounts: spec/pyanalypt-api.md, errors as {"detail": ...}."""

import httpx
import jwt

from tests.services.auth.conftest import new_account


async def register_and_login(client: httpx.AsyncClient) -> tuple[dict[str, str], dict[str, str]]:
    account = new_account("strongpassword123")
    body = {"username": account.username, "email": account.email, "password": account.password}
    response = await client.post("/api/auth/register/", json=body)
    assert response.status_code == 201, response.text
    login = await client.post(
        "/api/auth/login/", json={"username": body["username"], "password": body["password"]}
    )
    assert login.status_code == 200, login.text
    return body, login.json()


async def test_register_answers_201_without_the_password(client: httpx.AsyncClient) -> None:
    account = new_account("strongpassword123")
    body = {"username": account.username, "email": account.email, "password": "strongpassword123"}
    response = await client.post("/api/auth/register/", json=body)
    assert response.status_code == 201
    assert response.json() == {"username": account.username, "email": account.email}


async def test_login_returns_refresh_and_access(client: httpx.AsyncClient) -> None:
    _, tokens = await register_and_login(client)
    assert set(tokens) == {"refresh", "access"}
    header = jwt.get_unverified_header(tokens["access"])
    assert header["alg"] == "EdDSA"
    assert header["kid"]
    claims = jwt.decode(tokens["access"], options={"verify_signature": False})
    assert claims["typ"] == "access"
    assert claims["role"] == "user"
    assert claims["amr"] == "password"
    assert {"iss", "aud", "sub", "iat", "exp", "jti", "sid", "cid", "scp"} <= set(claims)


async def test_current_user(client: httpx.AsyncClient) -> None:
    body, tokens = await register_and_login(client)
    response = await client.get(
        "/api/auth/user/", headers={"Authorization": f"Bearer {tokens['access']}"}
    )
    assert response.status_code == 200
    user = response.json()
    assert set(user) == {"id", "username", "email"}
    assert (user["username"], user["email"]) == (body["username"], body["email"])
    assert (await client.get("/api/auth/user/")).status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    _, tokens = await register_and_login(client)
    first = await client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert first.status_code == 200
    rotated = first.json()
    assert set(rotated) == {"access", "refresh"}
    assert rotated["refresh"] != tokens["refresh"]
    new_access = {"Authorization": f"Bearer {rotated['access']}"}
    assert (await client.get("/api/auth/user/", headers=new_access)).status_code == 200

    # The spent token comes back (a thief, or a replay): the whole family dies.
    reuse = await client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    later = await client.post("/api/auth/refresh/", json={"refresh": rotated["refresh"]})
    assert later.status_code == 401
    assert (await client.get("/api/auth/user/", headers=new_access)).status_code == 401
    old_access = {"Authorization": f"Bearer {tokens['access']}"}
    assert (await client.get("/api/auth/user/", headers=old_access)).status_code == 401


async def test_unknown_refresh_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh/", json={"refresh": "not-a-token"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or expired refresh token"
    # An access token is not a refresh token.
    _, tokens = await register_and_login(client)
    swapped = await client.post("/api/auth/refresh/", json={"refresh": tokens["access"]})
    assert swapped.status_code == 401


async def test_validation_errors_use_fastapis_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register/", json={"username": "x"})
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "email") in locs
    assert ("body", "password") in locs


async def test_duplicate_and_weak(client: httpx.AsyncClient) -> None:
    body, _ = await register_and_login(client)
    duplicate = await client.post("/api/auth/register/", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "Username already exists"
    account = new_account()
    weak = await client.post(
        "/api/auth/register/",
        json={"username": account.username, "email": account.email, "password": "abc"},
    )
    assert weak.status_code == 400
    assert weak.json()["detail"] == "Password must be at least 8 characters long"


async def test_login_by_email_works(client: httpx.AsyncClient) -> None:
    body, _ = await register_and_login(client)
    response = await client.post(
        "/api/auth/login/", json={"username": body["email"].upper(), "password": body["password"]}
    )
    assert response.status_code == 200
