"""The route table of API.md: each path reaches its owner, nothing else gets through."""

from __future__ import annotations

import httpx
import pytest

from gateway.route_table import AuthPolicy, BodyLimit, Owner, RateClass, Route, RouteTable
from tests.gateway.conftest import RunningGateway, Upstreams
from tests.gateway.support import KeyRing


@pytest.mark.parametrize(
    ("method", "path", "owner"),
    [
        ("POST", "/api/login", "auth"),
        ("GET", "/api/profile", "auth"),
        ("POST", "/api/auth/login/", "auth"),
        ("GET", "/api/auth/user/", "auth"),
        ("POST", "/auth/login", "auth"),
        ("GET", "/auth/api-keys", "auth"),
        ("POST", "/auth/registration", "auth"),
        ("POST", "/auth/enable-2fa", "auth"),
        ("POST", "/api/upload", "ingest"),
        ("POST", "/api/upload/", "ingest"),
        ("GET", "/api/status/task-1", "ingest"),
        ("POST", "/files/upload", "ingest"),
        ("GET", "/files/download/12", "ingest"),
        ("DELETE", "/files/remove/12", "ingest"),
        ("GET", "/jobs/abc", "ingest"),
        ("GET", "/api/exports", "analysis"),
        ("GET", "/api/analysis/7", "analysis"),
        ("GET", "/api/report/7", "analysis"),
        ("GET", "/api/upload/0b1c/", "analysis"),
        ("POST", "/client/export/chats", "analysis"),
        ("GET", "/client/export/chats/download", "analysis"),
        ("POST", "/client/chats", "analysis"),
        ("GET", "/profile/someone", "profile"),
        ("POST", "/profiles/revalidate", "profile"),
        ("POST", "/cache/clear-expired", "profile"),
        ("POST", "/connect", "profile"),
        ("POST", "/disconnect", "profile"),
        ("GET", "/sessions", "profile"),
        ("POST", "/sessions/cleanup", "profile"),
    ],
)
async def test_each_route_reaches_its_owner(
    gateway: RunningGateway, keyring: KeyRing, method: str, path: str, owner: str
) -> None:
    token = keyring.mint()
    async with gateway.client() as client:
        response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["service"] == owner
    assert seen["path"] == path
    assert seen["method"] == method


def route_for(method: str, path: str, *, websocket: bool = False) -> Route:
    route = RouteTable().match(method, path, websocket=websocket).route
    assert route is not None, f"{method} {path} is not routed"
    return route


@pytest.mark.parametrize(
    ("method", "path", "owner", "auth", "rate"),
    [
        ("POST", "/api/upload", Owner.INGEST, AuthPolicy.REQUIRED, RateClass.API),
        ("POST", "/api/upload/", Owner.INGEST, AuthPolicy.OPTIONAL, RateClass.API),
        ("POST", "/auth/login", Owner.AUTH, AuthPolicy.PUBLIC, RateClass.AUTH),
        ("POST", "/auth/register", Owner.AUTH, AuthPolicy.OPTIONAL, RateClass.AUTH),
        ("POST", "/api/login", Owner.AUTH, AuthPolicy.PUBLIC, RateClass.AUTH),
        ("POST", "/connect", Owner.PROFILE, AuthPolicy.REQUIRED, RateClass.CONNECT),
        ("POST", "/client/export/chats", Owner.ANALYSIS, AuthPolicy.REQUIRED, RateClass.EXPORT),
        ("POST", "/cache/clear-expired", Owner.PROFILE, AuthPolicy.REQUIRED, RateClass.STRICT),
        ("GET", "/status", Owner.GATEWAY, AuthPolicy.REQUIRED, RateClass.API),
        ("GET", "/api/health", Owner.GATEWAY, AuthPolicy.PUBLIC, RateClass.SYSTEM),
    ],
)
def test_table_has_the_spec_policies(
    method: str, path: str, owner: Owner, auth: AuthPolicy, rate: RateClass
) -> None:
    route = route_for(method, path)
    assert (route.owner, route.auth, route.rate) == (owner, auth, rate)


def test_websocket_route_and_upload_limits() -> None:
    ws = route_for("GET", "/ws/comments/s1", websocket=True)
    assert (ws.owner, ws.rate) == (Owner.PROFILE, RateClass.WEBSOCKET)
    assert route_for("POST", "/api/upload").body is BodyLimit.UPLOAD
    assert route_for("POST", "/api/upload/").body is BodyLimit.DEFAULT
    assert route_for("POST", "/files/upload").body is BodyLimit.DEFAULT
    assert route_for("POST", "/api/upload") is not route_for("POST", "/api/upload/")


async def test_trailing_slash_is_never_merged(client: httpx.AsyncClient, keyring: KeyRing) -> None:
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    plain = await client.post("/api/upload", headers=headers, content=b"x")
    slash = await client.post("/api/upload/", headers=headers, content=b"x")
    assert plain.json()["path"] == "/api/upload"
    assert slash.json()["path"] == "/api/upload/"
    # No redirect, ever.
    other = await client.get("/api/report/", headers=headers)
    assert other.status_code == 404
    assert other.json() == {
        "code": "not_found",
        "message": "Not found",
        "request_id": other.headers["x-request-id"],
        "error": "Not found",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/internal/jwks",
        "/internal/introspect",
        "/webhooks/parser",
        "/health",
        "/files/../internal/jwks",
    ],
)
async def test_internal_routes_are_never_routed(
    client: httpx.AsyncClient, upstreams: Upstreams, path: str
) -> None:
    before = upstreams.auth.jwks_fetches
    response = await client.get(path, headers={"X-Internal-Token": "guess"})
    assert response.status_code in (401, 404)
    assert upstreams.auth.jwks_fetches == before


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/nothing-here", {"detail": "Not found"}),
        ("/auth/nothing/../x", None),
        ("/nothing", {"detail": "Not found"}),
        ("/monitoring/nothing", {"error": "NOT_FOUND"}),
        ("/api/report", {"detail": "Not found"}),
    ],
)
async def test_unknown_paths_are_404_in_the_dialect(
    client: httpx.AsyncClient, path: str, expected: dict[str, str] | None
) -> None:
    response = await client.get(path)
    if expected is None:
        return
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    for key, value in expected.items():
        assert body[key] == value


async def test_query_and_raw_path_pass_unchanged(
    client: httpx.AsyncClient, keyring: KeyRing
) -> None:
    response = await client.get(
        "/profile/a%2Fb%20c",
        params={"x": "1", "y": "two words"},
        headers={"Authorization": f"Bearer {keyring.mint()}"},
    )
    seen = response.json()
    assert seen["raw_path"] == "/profile/a%2Fb%20c"
    assert seen["query"] == "x=1&y=two+words"


async def test_method_not_allowed_on_a_known_exact_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/login")
    # /api/login only exists as POST; the auth namespace is /api/auth/, not /api/.
    assert response.status_code == 405
    assert response.json()["error"] == "Method not allowed"


def test_allowed_methods_of_a_documented_path_ignore_its_namespace() -> None:
    table = RouteTable()
    assert table.allowed_methods("/auth/login") == ["POST"]
    assert table.allowed_methods("/api/profile") == ["GET", "HEAD"]
    # OPTIONS on a documented path is answered by the gateway, not the namespace's owner.
    assert table.match("OPTIONS", "/auth/login").method_not_allowed
    assert table.match("OPTIONS", "/auth/some-later-route").route is not None
    assert route_for("GET", "/api/auth/user").auth is AuthPolicy.REQUIRED


async def test_options_and_405_carry_allow(client: httpx.AsyncClient) -> None:
    options = await client.options("/api/login")
    assert options.status_code == 204
    assert options.headers["allow"] == "POST, OPTIONS"
    assert options.content == b""
    wrong = await client.get("/api/login")
    assert wrong.headers["allow"] == "POST, OPTIONS"
