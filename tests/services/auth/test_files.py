"""File Processing accounts: spec/file-processing-api.md (session cookie + TOTP),
errors as {"detail": ...}."""

import httpx

from tests.services.auth.conftest import AuthDriver, TotpClock, new_account


async def files_register(client: httpx.AsyncClient) -> dict[str, str]:
    account = new_account("Str0ng_Pass!")
    body = {
        "username": account.username,
        "email": account.email,
        "password": "Str0ng_Pass!",
        "password1": "Str0ng_Pass!",
    }
    response = await client.post("/auth/registration", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["message"] == "Registration successfully completed"
    return body


async def cookie_login(
    client: httpx.AsyncClient, body: dict[str, str], **extra: str
) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"username": body["username"], "password": body["password"], **extra}
    )


async def test_registration_with_the_spec_example_body(client: httpx.AsyncClient) -> None:
    body = await files_register(client)
    login = await cookie_login(client, body)
    assert login.status_code == 200
    assert login.json()["message"] == "Login successful"
    assert login.cookies["session_id"]


async def test_registration_refuses_mismatched_passwords(client: httpx.AsyncClient) -> None:
    account = new_account()
    response = await client.post(
        "/auth/registration",
        json={
            "username": account.username,
            "email": account.email,
            "password": "Str0ng_Pass!",
            "password1": "Str0ng_Pass?",
        },
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Passwords do not match"


async def test_logout_ends_the_cookie_session(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    body = await files_register(client)
    cookie = (await cookie_login(client, body)).cookies["session_id"]
    headers = await driver.bearer("session", cookie)
    response = await client.post("/auth/logout", headers=headers)
    assert response.status_code == 200
    assert "session_id=" in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await driver.introspect("session", cookie)) == {"active": False}
    assert (await client.post("/auth/logout", headers=headers)).status_code == 401
    assert (await client.post("/auth/logout")).json()["detail"] == "Not logged in"


async def test_invalidate_other_sessions_keeps_the_current_one(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    body = await files_register(client)
    cookies = [(await cookie_login(client, body)).cookies["session_id"] for _ in range(3)]
    refresh_login = await client.post(
        "/api/auth/login/", json={"username": body["username"], "password": body["password"]}
    )
    other_access = {"Authorization": f"Bearer {refresh_login.json()['access']}"}
    current = await driver.bearer("session", cookies[0])
    response = await client.post("/auth/invalidate-other-sessions", headers=current)
    assert response.status_code == 200
    assert response.json()["revoked_sessions"] == 3
    assert (await driver.introspect("session", cookies[0]))["active"] is True
    for cookie in cookies[1:]:
        assert (await driver.introspect("session", cookie)) == {"active": False}
    assert (await client.get("/api/auth/user/", headers=other_access)).status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh/", json={"refresh": refresh_login.json()["refresh"]}
    )
    assert refreshed.status_code == 401
    assert (await client.get("/api/profile", headers=current)).status_code == 200


async def enrol(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/auth/enable-2fa", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["qr_code"].startswith("data:image/png;base64,")
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert body["secret"] in body["otpauth_uri"]
    return str(body["secret"])


def wrong_code(secret: str, clock: TotpClock) -> str:
    """A well-formed code valid for no step of the window."""
    valid = {clock.code(secret, offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


async def test_two_factor_enrol_confirm_login_disable(
    client: httpx.AsyncClient, driver: AuthDriver, totp_clock: TotpClock
) -> None:
    body = await files_register(client)
    headers = await driver.bearer(
        "session", (await cookie_login(client, body)).cookies["session_id"]
    )
    secret = await enrol(client, headers)
    # Pending until confirmed: login still works without a code.
    assert (await cookie_login(client, body)).status_code == 200
    wrong = await client.post(
        "/auth/enable-2fa", json={"totp_code": wrong_code(secret, totp_clock)}, headers=headers
    )
    assert wrong.status_code == 400
    confirm = await client.post(
        "/auth/enable-2fa", json={"totp_code": totp_clock.code(secret)}, headers=headers
    )
    assert confirm.status_code == 200
    assert confirm.json()["is_2fa_enabled"] is True

    # Every login route now needs the code.
    no_code = await cookie_login(client, body)
    assert no_code.status_code == 401
    assert no_code.json()["detail"] == "Two-factor authentication code required"
    skype = await client.post(
        "/api/login", json={"username": body["username"], "password": body["password"]}
    )
    assert skype.status_code == 401
    pyanalypt = await client.post(
        "/api/auth/login/", json={"username": body["username"], "password": body["password"]}
    )
    assert pyanalypt.status_code == 401
    # The code that confirmed enrolment is spent; the next step's code works once.
    replay = await cookie_login(client, body, totp_code=totp_clock.code(secret))
    assert replay.status_code == 401
    assert replay.json()["detail"] == "Invalid two-factor authentication code"
    with_code = await cookie_login(client, body, totp_code=totp_clock.code(secret, 1))
    assert with_code.status_code == 200
    assert (
        await cookie_login(client, body, totp_code=totp_clock.code(secret, 1))
    ).status_code == 401

    # Re-enrolling while enabled is refused.
    assert (await client.post("/auth/enable-2fa", headers=headers)).status_code == 400
    bad_disable = await client.post(
        "/auth/disable-2fa", json={"password": "not-my-password"}, headers=headers
    )
    assert bad_disable.status_code == 400
    disable = await client.post(
        "/auth/disable-2fa", json={"password": body["password"]}, headers=headers
    )
    assert disable.status_code == 200
    assert disable.json()["is_2fa_enabled"] is False
    assert (await cookie_login(client, body)).status_code == 200


async def test_disable_with_a_code_and_replay_protection(
    client: httpx.AsyncClient, driver: AuthDriver, totp_clock: TotpClock
) -> None:
    body = await files_register(client)
    headers = await driver.bearer(
        "session", (await cookie_login(client, body)).cookies["session_id"]
    )
    secret = await enrol(client, headers)
    assert (
        await client.post(
            "/auth/enable-2fa", json={"totp_code": totp_clock.code(secret, -1)}, headers=headers
        )
    ).status_code == 200
    # A code of a step not later than the confirming one is refused.
    assert (
        await client.post(
            "/auth/disable-2fa", json={"totp_code": totp_clock.code(secret, -1)}, headers=headers
        )
    ).status_code == 400
    response = await client.post(
        "/auth/disable-2fa", json={"totp_code": totp_clock.code(secret)}, headers=headers
    )
    assert response.status_code == 200
    # Off now: a further disable is a state error.
    after = await client.post(
        "/auth/disable-2fa", json={"totp_code": totp_clock.code(secret, 1)}, headers=headers
    )
    assert after.status_code == 400
    assert after.json()["detail"] == "Two-factor authentication is not enabled"


async def test_confirming_without_enrolment_is_refused(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    body = await files_register(client)
    headers = await driver.bearer(
        "session", (await cookie_login(client, body)).cookies["session_id"]
    )
    response = await client.post("/auth/enable-2fa", json={"totp_code": "123456"}, headers=headers)
    assert response.status_code == 400
    assert "Start enrolment first" in response.json()["detail"]
    empty = await client.post("/auth/enable-2fa", json={}, headers=headers)
    assert empty.status_code == 200
    assert "secret" in empty.json()


async def test_two_factor_needs_full_access(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    body = await files_register(client)
    token = (await cookie_login(client, body)).json()["access_token"]
    created = await client.post(
        "/auth/api-keys/generate",
        json={"name": "r", "permissions": ["read"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    reader = await driver.bearer("api_key", created.json()["api_key"])
    assert (await client.post("/auth/enable-2fa", headers=reader)).status_code == 403
    assert (await client.post("/auth/invalidate-other-sessions", headers=reader)).status_code == 403
    assert (await client.post("/api/regenerate-api-key", headers=reader)).status_code == 403
