"""Hostile inputs through the gateway (found by fuzzing the merged OpenAPI document):
each answers a 4xx in its route's dialect, never a 500, a 503 or a leaked internal."""

from __future__ import annotations

import httpx
import pytest

from deploy.platform import RunningPlatform

LEAKS = ("Traceback", "sqlalchemy", "asyncpg", "INSERT INTO", "SELECT ", "127.0.0.1")


def assert_clean_refusal(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert not any(leak in response.text for leak in LEAKS), response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/login", 400), ("/api/auth/login/", 422), ("/auth/login", 400)],
)
async def test_nul_in_login_username_is_a_validation_error(
    gateway_client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await gateway_client.post(
        path, json={"username": "ad\u0000min", "password": "pa\u0000ss"}
    )
    assert_clean_refusal(response, status)


async def test_nul_in_display_name_is_a_validation_error(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    response = await gateway_client.post(
        "/api/register",
        json={
            "username": f"nul_{unique}",
            "password": "Correct-Horse-Battery-9",
            "email": f"nul_{unique}@example.com",
            "display_name": "a\u0000b",
        },
    )
    assert_clean_refusal(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\u0000b"},
        {"name": "far future", "expires_at": "9999-12-31T23:59:59-14:00"},
        {"name": "year one", "expires_at": "0001-01-01T00:00:00"},
    ],
)
async def test_unstorable_api_key_request_is_a_validation_error(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform, body: dict[str, str]
) -> None:
    assert platform.dev_api_key
    response = await gateway_client.post(
        "/auth/api-keys/generate", json=body, headers={"X-API-Key": platform.dev_api_key}
    )
    assert_clean_refusal(response, 400)


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({"X-API-Key": "k" * 8192}, "/api/profile"),
        ({"X-API-Key": "k" * 1025}, "/auth/api-keys"),
        ({"Cookie": "session=" + "s" * 8000}, "/api/profile"),
        ({"Cookie": "session_id=" + "s" * 4000}, "/auth/api-keys"),
    ],
)
async def test_oversized_credential_is_a_401_not_an_outage(
    gateway_client: httpx.AsyncClient, headers: dict[str, str], path: str
) -> None:
    # Auth's introspection refuses credentials over 1024 characters; the gateway used to
    # take that refusal for auth being down and answered 503.
    response = await gateway_client.get(path, headers=headers)
    assert_clean_refusal(response, 401)


async def test_junk_bearer_tokens_are_401(gateway_client: httpx.AsyncClient) -> None:
    for token in ("junk", "a" * 4096, "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."):
        response = await gateway_client.get(
            "/api/auth/user/", headers={"Authorization": f"Bearer {token}"}
        )
        assert_clean_refusal(response, 401)


async def test_openapi_documents_the_errors_routes_answer(
    gateway_client: httpx.AsyncClient,
) -> None:
    document = (await gateway_client.get("/openapi.json")).json()
    paths = document["paths"]
    # Skype and Profile routes answer a malformed body with 400, not FastAPI's 422.
    for path in ("/api/login", "/api/register", "/auth/login", "/auth/api-keys/generate"):
        responses = paths[path]["post"]["responses"]
        assert "400" in responses, (path, sorted(responses))
        assert "422" not in responses, (path, sorted(responses))
        assert "429" in responses, (path, sorted(responses))
    assert "422" in paths["/api/auth/login/"]["post"]["responses"]
    assert "401" in paths["/api/profile"]["get"]["responses"]
    assert "401" in paths["/status"]["get"]["responses"]
    assert "400" in paths["/monitoring/metrics"]["get"]["responses"]
    assert "401" not in paths["/api/health"]["get"]["responses"]
    # Errors the auth service answers, documented by the routes themselves.
    login = paths["/api/auth/login/"]["post"]["responses"]
    assert {"400", "401", "422"} <= set(login), sorted(login)
    assert "404" in paths["/auth/api-keys/{key_id}"]["delete"]["responses"]
    assert "403" in paths["/auth/register"]["post"]["responses"]
    assert "409" in paths["/api/auth/register/"]["post"]["responses"]
    assert "409" in paths["/auth/registration"]["post"]["responses"]
    assert login["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QuarryError"
    }
    error = document["components"]["schemas"]["QuarryError"]
    assert set(error["required"]) == {"code", "message", "request_id"}
    # The body really has that shape.
    refused = await gateway_client.post("/api/login", json={})
    assert refused.status_code == 400
    assert set(error["required"]) <= set(refused.json())


async def test_openapi_states_the_username_rule(gateway_client: httpx.AsyncClient) -> None:
    document = (await gateway_client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for name in ("SkypeRegistration", "PyRegistration", "ProfileRegistration"):
        username = schemas[name]["properties"]["username"]
        assert username["pattern"] == r"^[A-Za-z0-9_.\-]{3,150}$", (name, username)
    refused = await gateway_client.post(
        "/api/auth/register/",
        json={"username": "", "email": "someone@example.com", "password": "x" * 12},
    )
    assert refused.status_code == 422
