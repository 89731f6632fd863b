"""PyAnalypt accounts through the gateway (spec/pyanalypt-api.md), {"detail": ...} errors."""

import httpx


async def johndoe(gw: httpx.AsyncClient, unique: str) -> tuple[dict[str, str], dict[str, str]]:
    body = {
        "username": f"johndoe{unique}",
        "email": f"john{unique}@example.com",
        "password": "strongpassword123",
    }
    response = await gw.post("/api/auth/register/", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {"username": body["username"], "email": body["email"]}
    login = await gw.post(
        "/api/auth/login/", json={"username": body["username"], "password": "strongpassword123"}
    )
    assert login.status_code == 200, login.text
    assert set(login.json()) == {"refresh", "access"}
    return body, login.json()


async def test_register_login_user(gateway_client: httpx.AsyncClient, unique: str) -> None:
    body, tokens = await johndoe(gateway_client, unique)
    me = await gateway_client.get(
        "/api/auth/user/", headers={"Authorization": f"Bearer {tokens['access']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == body["username"]
    assert set(me.json()) == {"id", "username", "email"}
    anonymous = await gateway_client.get("/api/auth/user/")
    assert anonymous.status_code == 401
    assert "detail" in anonymous.json()


async def test_refresh_rotation_and_reuse_detection(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    _, tokens = await johndoe(gateway_client, unique)
    rotated = await gateway_client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["access"]
    assert new["refresh"] != tokens["refresh"]
    new_access = {"Authorization": f"Bearer {new['access']}"}
    assert (await gateway_client.get("/api/auth/user/", headers=new_access)).status_code == 200
    reused = await gateway_client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert reused.status_code == 401
    # The family is gone: the newest refresh token and the access tokens too.
    assert (
        await gateway_client.post("/api/auth/refresh/", json={"refresh": new["refresh"]})
    ).status_code == 401
    assert (await gateway_client.get("/api/auth/user/", headers=new_access)).status_code == 401


async def test_wrong_password_duplicate_weak(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body, _ = await johndoe(gateway_client, unique)
    wrong = await gateway_client.post(
        "/api/auth/login/", json={"username": body["username"], "password": "nope-nope-nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Invalid username or password"
    duplicate = await gateway_client.post(
        "/api/auth/register/", json={**body, "username": f"other{unique}"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "Email already registered"
    weak = await gateway_client.post(
        "/api/auth/register/",
        json={"username": f"w{unique}", "email": f"w{unique}@example.com", "password": "short"},
    )
    assert weak.status_code == 400
    missing = await gateway_client.post("/api/auth/register/", json={"username": f"m{unique}"})
    assert missing.status_code == 422
    assert {tuple(d["loc"]) for d in missing.json()["detail"]} >= {
        ("body", "email"),
        ("body", "password"),
    }
