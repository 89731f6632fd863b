"""File Processing accounts through the gateway (spec/file-processing-api.md): the
session_id cookie, TOTP 2FA, logout and invalidating other sessions."""

import httpx

from services.auth.security import totp
from tests.e2e.accounts_helpers import code_for, other_ip


async def alice(gw: httpx.AsyncClient, unique: str) -> dict[str, str]:
    body = {
        "username": f"alice{unique}",
        "email": f"alice{unique}@example.com",
        "password": "Str0ng_Pass!",
        "password1": "Str0ng_Pass!",
    }
    response = await gw.post("/auth/registration", json=body)
    assert response.status_code == 201, response.text
    return body


async def cookie_login(gw: httpx.AsyncClient, body: dict[str, str], **extra: str) -> httpx.Response:
    # The spec's curl sends totp_code even before 2FA is on; it is ignored then.
    return await gw.post(
        "/auth/login",
        json={
            "username": body["username"],
            "password": body["password"],
            "totp_code": "123456",
            **extra,
        },
        headers={"X-Forwarded-For": other_ip()},
    )


def cookie_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Cookie": f"session_id={response.cookies['session_id']}"}


async def test_registration_and_cookie_login(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body = await alice(gateway_client, unique)
    session = cookie_of(await cookie_login(gateway_client, body))
    keys = await gateway_client.get("/auth/api-keys", headers=session)
    assert keys.status_code == 200
    mismatch = await gateway_client.post(
        "/auth/registration",
        json={
            **body,
            "username": f"bob{unique}",
            "email": f"bob{unique}@example.com",
            "password1": "Other_Pass1!",
        },
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["detail"] == "Passwords do not match"


async def test_two_factor_enrol_confirm_login_replay_disable(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body = await alice(gateway_client, unique)
    session = cookie_of(await cookie_login(gateway_client, body))
    enrol = await gateway_client.post("/auth/enable-2fa", headers=session)
    assert enrol.status_code == 200
    secret = enrol.json()["secret"]
    assert enrol.json()["qr_code"].startswith("data:image/png;base64,")
    # Steps fixed once: the confirming code's step, then the next one. Both are valid
    # for at least 30 s from here, and the replays stay replays across a step change.
    step = totp.current_step()
    confirm = await gateway_client.post(
        "/auth/enable-2fa", json={"totp_code": code_for(secret, step)}, headers=session
    )
    assert confirm.status_code == 200

    missing = await gateway_client.post(
        "/auth/login", json={"username": body["username"], "password": body["password"]}
    )
    assert missing.status_code == 401
    assert missing.json()["detail"] == "Two-factor authentication code required"
    replay = await cookie_login(gateway_client, body, totp_code=code_for(secret, step))
    assert replay.status_code == 401
    next_code = code_for(secret, step + 1)
    assert (await cookie_login(gateway_client, body, totp_code=next_code)).status_code == 200
    assert (await cookie_login(gateway_client, body, totp_code=next_code)).status_code == 401

    disable = await gateway_client.post(
        "/auth/disable-2fa", json={"password": body["password"]}, headers=session
    )
    assert disable.status_code == 200
    assert (await cookie_login(gateway_client, body)).status_code == 200


async def test_invalidate_other_sessions_and_logout(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body = await alice(gateway_client, unique)
    mine = cookie_of(await cookie_login(gateway_client, body))
    others = [cookie_of(await cookie_login(gateway_client, body)) for _ in range(2)]
    for other in others:
        assert (await gateway_client.get("/auth/api-keys", headers=other)).status_code == 200
    response = await gateway_client.post("/auth/invalidate-other-sessions", headers=mine)
    assert response.status_code == 200
    assert response.json()["revoked_sessions"] == 2
    for other in others:
        assert (await gateway_client.get("/auth/api-keys", headers=other)).status_code == 401
    assert (await gateway_client.get("/auth/api-keys", headers=mine)).status_code == 200
    logout = await gateway_client.post("/auth/logout", headers=mine)
    assert logout.status_code == 200
    assert "session_id=" in logout.headers["set-cookie"]
    assert (await gateway_client.get("/auth/api-keys", headers=mine)).status_code == 401
