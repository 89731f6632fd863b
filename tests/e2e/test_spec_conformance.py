"""The specs' own examples of the implemented routes, run unchanged through the gateway.

Each test is what a client of that spec checks: the documented path, method and
body; status codes; response fields and their types; cookies; rate-limit and
request-id headers; error bodies in the route's dialect (API.md, "Errors").
Only the names get a random suffix so that the session's accounts never collide.
"""

from __future__ import annotations

import httpx

from deploy.platform import RunningPlatform
from tests.e2e.accounts_helpers import other_ip

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def assert_json_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body: dict[str, object] = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def skype_error(response: httpx.Response, status: int) -> str:
    body = assert_json_error(response, status)
    assert isinstance(body["error"], str)
    assert body["error"]
    return body["error"]


def detail_error(response: httpx.Response, status: int) -> object:
    body = assert_json_error(response, status)
    assert "detail" in body
    return body["detail"]


def cookie_attributes(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0].lower()


# --- Skype (spec/skype-parser-api.md) ----------------------------------------------


async def test_skype_python_client_flow(gateway_client: httpx.AsyncClient, unique: str) -> None:
    """register_user → api_key → get_profile → regenerate_api_key → login → logout."""
    payload = {
        "username": f"johndoe{unique}",
        "password": "securepassword",
        "email": f"john.doe.{unique}@example.com",
        "display_name": "John Doe",
    }
    registered = await gateway_client.post("/api/register", json=payload)
    assert registered.status_code == 200, registered.text
    user_data = registered.json()
    assert set(user_data) == {"username", "email", "display_name", "api_key"}
    assert all(isinstance(v, str) for v in user_data.values())
    api_key = user_data.get("api_key")
    assert api_key

    profile = await gateway_client.get("/api/profile", headers={"X-API-Key": api_key})
    assert profile.status_code == 200, profile.text
    assert profile.json()["username"] == payload["username"]
    assert profile.json()["display_name"] == "John Doe"
    assert all(h in profile.headers for h in RATE_HEADERS)

    regenerated = await gateway_client.post(
        "/api/regenerate-api-key", headers={"X-API-Key": api_key}
    )
    assert regenerated.status_code == 200, regenerated.text
    new_key = regenerated.json()["api_key"]
    assert isinstance(new_key, str)
    assert new_key != api_key
    stale = await gateway_client.get("/api/profile", headers={"X-API-Key": api_key})
    skype_error(stale, 401)
    fresh = await gateway_client.get("/api/profile", headers={"X-API-Key": new_key})
    assert fresh.status_code == 200

    # login(): response.json(), response.cookies
    login = await gateway_client.post(
        "/api/login", json={"username": payload["username"], "password": "securepassword"}
    )
    assert login.status_code == 200, login.text
    assert set(login.json()) == {"username", "email", "display_name", "api_key"}
    attributes = cookie_attributes(login, "session")
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    session_cookie = login.cookies["session"]

    # The JS client's getProfile(apiKey) with credentials: 'include' also works by cookie.
    by_cookie = await gateway_client.get(
        "/api/profile", headers={"Cookie": f"session={session_cookie}"}
    )
    assert by_cookie.status_code == 200, by_cookie.text

    # logout(session_cookie): requests.post(url, cookies={'session': session_cookie})
    gateway_client.cookies.clear()
    logout = await gateway_client.post(
        "/api/logout", headers={"Cookie": f"session={session_cookie}"}
    )
    assert logout.status_code == 200, logout.text
    assert logout.json()["message"] == "Logged out successfully"
    cleared = cookie_attributes(logout, "session")
    assert "max-age=0" in cleared
    again = await gateway_client.post(
        "/api/logout", headers={"Cookie": f"session={session_cookie}"}
    )
    skype_error(again, 401)


async def test_skype_errors_are_error_objects(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    unauthenticated = await gateway_client.get("/api/profile")
    skype_error(unauthenticated, 401)
    assert all(h in unauthenticated.headers for h in RATE_HEADERS)
    skype_error(
        await gateway_client.get("/api/profile", headers={"X-API-Key": "your_api_key"}), 401
    )
    skype_error(await gateway_client.post("/api/regenerate-api-key"), 401)
    skype_error(await gateway_client.post("/api/logout"), 401)
    wrong = await gateway_client.post(
        "/api/login", json={"username": f"johndoe{unique}", "password": "securepassword"}
    )
    assert skype_error(wrong, 401) == "Invalid username or password"
    missing = await gateway_client.post("/api/register", json={"username": f"jd{unique}"})
    skype_error(missing, 400)
    not_json = await gateway_client.post(
        "/api/login", content=b"username=x", headers={"Content-Type": "text/plain"}
    )
    skype_error(not_json, 400)


# --- PyAnalypt (spec/pyanalypt-api.md) ---------------------------------------------


async def test_pyanalypt_register_login_refresh_user(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    body = {
        "username": f"johndoe{unique}",
        "email": f"john{unique}@example.com",
        "password": "strongpassword123",
    }
    registered = await gateway_client.post("/api/auth/register/", json=body)
    assert registered.status_code == 201, registered.text
    assert registered.json() == {"username": body["username"], "email": body["email"]}

    login = await gateway_client.post(
        "/api/auth/login/", json={"username": body["username"], "password": body["password"]}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert isinstance(tokens["refresh"], str)
    assert isinstance(tokens["access"], str)

    user = await gateway_client.get(
        "/api/auth/user/", headers={"Authorization": f"Bearer {tokens['access']}"}
    )
    assert user.status_code == 200, user.text
    assert set(user.json()) == {"id", "username", "email"}
    assert user.json()["username"] == body["username"]

    refreshed = await gateway_client.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access"]
    assert isinstance(access, str)
    again = await gateway_client.get(
        "/api/auth/user/", headers={"Authorization": f"Bearer {access}"}
    )
    assert again.status_code == 200


async def test_pyanalypt_errors_are_detail_objects(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    detail_error(await gateway_client.get("/api/auth/user/"), 401)
    bad_token = await gateway_client.get(
        "/api/auth/user/", headers={"Authorization": "Bearer your_access_token"}
    )
    detail_error(bad_token, 401)
    wrong = await gateway_client.post(
        "/api/auth/login/", json={"username": f"nobody{unique}", "password": "strongpassword123"}
    )
    assert isinstance(detail_error(wrong, 401), str)
    spent = await gateway_client.post(
        "/api/auth/refresh/", json={"refresh": "your_refresh_token_here"}
    )
    detail_error(spent, 401)
    missing = await gateway_client.post("/api/auth/login/", json={"username": "johndoe"})
    details = detail_error(missing, 422)
    assert isinstance(details, list)
    assert details[0]["loc"] == ["body", "password"]


async def test_pyanalypt_routes_answer_without_the_trailing_slash(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    """Django's routes end in "/"; a client that drops it still reaches the same route."""
    body = {
        "username": f"slash{unique}",
        "email": f"slash{unique}@example.com",
        "password": "strongpassword123",
    }
    registered = await gateway_client.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    login = await gateway_client.post(
        "/api/auth/login", json={"username": body["username"], "password": body["password"]}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    user = await gateway_client.get(
        "/api/auth/user", headers={"Authorization": f"Bearer {tokens['access']}"}
    )
    assert user.status_code == 200, user.text
    refreshed = await gateway_client.post("/api/auth/refresh", json={"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200, refreshed.text
    detail_error(await gateway_client.get("/api/auth/user"), 401)


async def test_upload_with_and_without_slash_stay_two_routes(
    gateway_client: httpx.AsyncClient,
) -> None:
    skype = await gateway_client.post("/api/upload", files={"file": ("m.json", b"{}")})
    skype_error(skype, 401)  # the Skype upload needs an API key
    dataset = await gateway_client.post(
        "/api/upload/", files={"file": ("d.csv", b"a\n1\n")}, data={"session_id": "guest-1"}
    )
    assert not dataset.is_redirect
    assert dataset.status_code != 401  # guests may upload datasets
    assert "error" not in dataset.json()


# --- Files (spec/file-processing-api.md) -------------------------------------------


async def test_files_curl_registration_login_logout(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    username = f"alice{unique}"
    registration = await gateway_client.post(
        "/auth/registration",
        json={
            "username": username,
            "email": f"alice{unique}@example.com",
            "password": "Str0ng_Pass!",
            "password1": "Str0ng_Pass!",
        },
    )
    assert registration.status_code == 201, registration.text
    assert registration.json()["user"]["username"] == username

    # curl -i -c cookies.txt ... {"username", "password", "totp_code": "123456"} (2FA off)
    login = await gateway_client.post(
        "/auth/login",
        json={"username": username, "password": "Str0ng_Pass!", "totp_code": "123456"},
    )
    assert login.status_code == 200, login.text
    attributes = cookie_attributes(login, "session_id")
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    session_id = login.cookies["session_id"]
    gateway_client.cookies.clear()

    cookie = {"Cookie": f"session_id={session_id}"}
    logout = await gateway_client.post("/auth/logout", headers=cookie)
    assert logout.status_code == 200, logout.text
    assert "max-age=0" in cookie_attributes(logout, "session_id")
    detail_error(await gateway_client.post("/auth/logout", headers=cookie), 401)
    detail_error(await gateway_client.post("/auth/logout"), 401)
    detail_error(await gateway_client.post("/auth/invalidate-other-sessions"), 401)

    mismatch = await gateway_client.post(
        "/auth/registration",
        json={
            "username": f"bob{unique}",
            "email": f"bob{unique}@example.com",
            "password": "Str0ng_Pass!",
            "password1": "Str0ng_Pass?",
        },
    )
    assert isinstance(detail_error(mismatch, 400), str)
    wrong = await gateway_client.post(
        "/auth/login", json={"username": username, "password": "Wr0ng_Pass!"}
    )
    assert detail_error(wrong, 401) == "Invalid username or password"


# --- Profile (spec/profile-engagement-api.md) --------------------------------------


async def test_profile_integration_flow_steps_1_2_7(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    api_key = platform.dev_api_key
    health = await gateway_client.get("/healthcheck")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert isinstance(body["timestamp"], str)
    assert isinstance(body["version"], str)
    assert isinstance(body["service"], str)

    status = await gateway_client.get("/status", headers={"X-API-Key": api_key})
    assert status.status_code == 200, status.text
    status_body = status.json()
    assert status_body["status"] == "healthy"
    for section in ("connections", "cache", "database", "websockets"):
        assert isinstance(status_body[section], dict)
    assert isinstance(status_body["connections"]["active_session_ids"], list)
    assert isinstance(status_body["websockets"]["active_connections"], int)
    engine = status_body["database"]["engine_info"]
    assert isinstance(engine["pool_size"], int)
    assert isinstance(engine["checked_out"], int)

    metrics = await gateway_client.get("/monitoring/metrics?time_window=1")
    assert metrics.status_code == 200
    m = metrics.json()["metrics"]
    assert isinstance(m["requests"]["total"], int)
    assert isinstance(m["requests"]["avg_duration_ms"], int | float)
    assert isinstance(m["system"]["cpu"]["percent"], int | float)
    assert {"percent", "used_mb", "available_mb"} <= set(m["system"]["memory"])
    assert {"used_gb", "free_gb"} <= set(m["system"]["disk"])
    assert {"connections", "pool_size", "query_avg_ms"} <= set(m["database"])
    assert isinstance(metrics.json()["timestamp"], str)


async def test_profile_monitoring_shapes(gateway_client: httpx.AsyncClient) -> None:
    ping = (await gateway_client.get("/monitoring/ping")).json()
    assert ping["message"] == "pong"
    assert {"timestamp", "version"} <= set(ping)
    detailed = (await gateway_client.get("/monitoring/detailed")).json()
    assert detailed["status"] == "healthy"
    components = detailed["components"]
    assert components["database"]["info"]["connection_healthy"] is True
    assert components["database"]["info"]["database_url"] == "masked"
    # The avatar cache's hit rate is measured: absent (None) before any lookup.
    assert isinstance(components["cache"]["hit_rate"], int | float | None)
    assert isinstance(components["cache"]["total_entries"], int)
    assert {"requests_last_minute", "avg_response_time_ms"} <= set(components["metrics"]["stats"])
    stats = (await gateway_client.get("/monitoring/cache/stats")).json()
    cache = stats["cache_stats"]
    for key in ("total_entries", "memory_usage_mb", "evictions"):
        assert isinstance(cache[key], int | float)
    for key in ("hit_rate", "miss_rate"):  # measured: None before any lookup
        assert isinstance(cache[key], int | float | None)
    assert isinstance(cache["by_category"], dict)
    assert isinstance(stats["timestamp"], str)


async def test_profile_authentication_errors(gateway_client: httpx.AsyncClient) -> None:
    documented = {
        "error": "AUTHENTICATION_REQUIRED",
        "message": "Valid authentication credentials required",
        "details": "Provide either X-API-Key header or Authorization: Bearer <token>",
    }
    missing = assert_json_error(await gateway_client.get("/status"), 401)
    assert {k: missing[k] for k in documented} == documented
    invalid = await gateway_client.get("/status", headers={"X-API-Key": "invalid-key"})
    body = assert_json_error(invalid, 401)
    assert body["error"] == "AUTHENTICATION_REQUIRED"
    assert body["details"] == documented["details"]
    keys = await gateway_client.get("/auth/api-keys")
    assert assert_json_error(keys, 401)["error"] == "AUTHENTICATION_REQUIRED"


async def test_profile_register_login_and_api_keys(
    gateway_client: httpx.AsyncClient, unique: str, platform: RunningPlatform
) -> None:
    body = {
        "username": f"newuser{unique}",
        "email": f"user{unique}@example.com",
        "password": "SecurePassword123!",
        "role": "user",
    }
    registered = await gateway_client.post("/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    assert registered.json()["message"] == "User registered successfully"
    user = registered.json()["user"]
    assert {"id", "username", "email", "role", "created_at"} <= set(user)
    assert user["role"] == "user"
    duplicate = await gateway_client.post("/auth/register", json=body)
    assert detail_error(duplicate, 400) == "Username already exists"

    login = await gateway_client.post(
        "/auth/login", json={"username": body["username"], "password": body["password"]}
    )
    assert login.status_code == 200, login.text
    token = login.json()
    assert token["token_type"] == "bearer"
    assert isinstance(token["expires_in"], int)
    assert set(token["user"]) >= {"id", "username", "email", "role"}
    wrong = await gateway_client.post(
        "/auth/login", json={"username": body["username"], "password": "Admin123!"}
    )
    assert detail_error(wrong, 401) == "Invalid username or password"
    invalid = await gateway_client.post("/auth/login", json={"password": "x"})
    errors = detail_error(invalid, 400)
    assert isinstance(errors, list)
    assert errors[0]["loc"] == ["body", "username"]

    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    # "Generate production key via API": curl -d without a Content-Type header.
    generated = await gateway_client.post(
        "/auth/api-keys/generate",
        content=b'{"name": "Production Key", "permissions": ["read", "write", "connect"]}',
        headers={**bearer, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert generated.status_code == 200, generated.text
    key = generated.json()
    assert key["api_key"].startswith("pk_")
    assert key["key_info"]["name"] == "Production Key"
    assert key["key_info"]["permissions"] == ["read", "write", "connect"]
    assert key["warning"].startswith("This is the only time the full API key will be shown.")

    listed = await gateway_client.get("/auth/api-keys", headers={"X-API-Key": key["api_key"]})
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == len(listed.json()["api_keys"]) == 1
    info = listed.json()["api_keys"][0]
    assert {"id", "name", "key_preview", "permissions", "created_at", "last_used"} <= set(info)
    assert "expires_at" in info

    dev = await gateway_client.post(
        "/auth/api-keys/generate",
        headers={"X-API-Key": platform.dev_api_key},
        json={"name": "New API Key", "permissions": ["read", "write"]},
    )
    assert dev.status_code == 200, dev.text


# --- Gateway behaviour every client relies on ------------------------------------


async def test_rate_limited_answer_has_retry_after(gateway_client: httpx.AsyncClient) -> None:
    headers = {"X-Forwarded-For": other_ip()}
    answers = [
        await gateway_client.post(
            "/api/auth/login/", json={"username": "nobody", "password": "x"}, headers=headers
        )
        for _ in range(11)
    ]
    limited = answers[-1]
    body = assert_json_error(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert all(h in limited.headers for h in RATE_HEADERS)
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "detail" in body
    assert isinstance(body["retry_after"], int | float)
    profile = await gateway_client.post("/auth/login", json={"username": "x"}, headers=headers)
    assert assert_json_error(profile, 429)["error"] == "RATE_LIMIT_EXCEEDED"


async def test_request_id_is_kept(gateway_client: httpx.AsyncClient) -> None:
    response = await gateway_client.get("/api/profile", headers={"X-Request-ID": "abc-12345"})
    assert response.headers["x-request-id"] == "abc-12345"
    assert response.json()["request_id"] == "abc-12345"


async def test_head_answers_like_get_without_a_body(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    for path, headers in (
        ("/healthcheck", {}),
        ("/api/health", {}),
        ("/monitoring/ping", {}),
        ("/api/profile", {"X-API-Key": platform.dev_api_key}),
        ("/auth/api-keys", {"X-API-Key": platform.dev_api_key}),
    ):
        head = await gateway_client.head(path, headers=headers)
        assert head.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"].startswith("application/json")
    unauthenticated = await gateway_client.head("/api/profile")
    assert unauthenticated.status_code == 401


async def test_options_lists_the_allowed_methods(gateway_client: httpx.AsyncClient) -> None:
    for path, method in (("/api/login", "POST"), ("/auth/login", "POST"), ("/api/profile", "GET")):
        options = await gateway_client.options(path)
        assert options.status_code in (200, 204), (path, options.status_code)
        allowed = {m.strip() for m in options.headers["allow"].split(",")}
        assert method in allowed
        assert "OPTIONS" in allowed
    wrong_method = await gateway_client.get("/api/login")
    skype_error(wrong_method, 405)
    assert "POST" in wrong_method.headers["allow"]
