"""CORS through the real gateway: the operator's allowlist (GATEWAY_CORS_ORIGINS) lets
browser apps on those origins call every route, cookies included; no other origin
gets a CORS header, and the cookie cross-site check trusts exactly the same list."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.settings import GatewaySettings
from tests.gateway.conftest import RunningGateway, StartGateway, Upstreams
from tests.gateway.support import KeyRing

APP = "https://app.example"
EVIL = "https://evil.example"
EXPOSED = {
    "x-request-id",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "content-disposition",
}


def preflight(method: str = "POST", headers: str = "content-type, x-api-key") -> dict[str, str]:
    return {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def listed(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


@pytest.fixture
async def cors_gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(cors_origins=[APP])


@pytest.fixture
def session_cookie(upstreams: Upstreams) -> str:
    upstreams.auth.grant("cors-session", sid="sess-cors")
    return "session_id=cors-session"


async def test_preflight_from_an_allowed_origin(
    start_gateway: StartGateway, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(cors_origins=[APP], rate_limit_api="2/60")
    seen = len(upstreams.ingest.seen)
    async with gateway.client() as client:
        for _ in range(5):  # more than the route's limit: preflights are not charged
            response = await client.options("/api/upload", headers={"Origin": APP, **preflight()})
            assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == APP
        assert response.headers["access-control-allow-credentials"] == "true"
        assert {"x-api-key", "content-type", "authorization"} <= listed(
            response.headers["access-control-allow-headers"]
        )
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-max-age"] == "600"
        assert "origin" in listed(response.headers["vary"])
        assert len(upstreams.ingest.seen) == seen  # answered by the gateway, not proxied
        # No credentials were needed, and the route's budget is intact.
        real = await client.get("/api/status/t-1", headers={"Origin": APP, "X-API-Key": "x"})
        assert real.status_code == 401
        assert real.headers["x-ratelimit-remaining"] == "1"


async def test_preflight_from_another_origin_gets_no_cors_headers(
    cors_gateway: RunningGateway,
) -> None:
    async with cors_gateway.client() as client:
        response = await client.options("/files/convert", headers={"Origin": EVIL, **preflight()})
        assert response.status_code == 403
        assert cors_headers(response) == {}
        assert response.json()["code"] == "cors_refused"
        assert "detail" in response.json()  # the Files dialect
        # A listed origin asking for a header nobody allowed is refused as well.
        odd = await client.options(
            "/files/convert", headers={"Origin": APP, **preflight(headers="x-unknown")}
        )
        assert odd.status_code == 403


async def test_no_allowlist_means_no_cross_origin_access(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        response = await client.options("/api/upload", headers={"Origin": APP, **preflight()})
        assert response.status_code == 403
        assert cors_headers(response) == {}


async def test_request_from_an_allowed_origin_carries_cors_headers(
    cors_gateway: RunningGateway, keyring: KeyRing
) -> None:
    bearer = {"Authorization": f"Bearer {keyring.mint()}"}
    async with cors_gateway.client() as client:
        response = await client.get("/files/download/1", headers={"Origin": APP, **bearer})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == APP
        assert response.headers["access-control-allow-credentials"] == "true"
        assert listed(response.headers["access-control-expose-headers"]) == EXPOSED
        assert "origin" in listed(response.headers["vary"])
        other = await client.get("/files/download/1", headers={"Origin": EVIL, **bearer})
        assert other.status_code == 200  # CORS is the browser's to enforce
        assert cors_headers(other) == {}  # but nothing lets it read the answer
        assert "origin" in listed(other.headers["vary"])


async def test_a_service_cannot_widen_the_policy(
    cors_gateway: RunningGateway, keyring: KeyRing
) -> None:
    bearer = {"Authorization": f"Bearer {keyring.mint()}"}
    async with cors_gateway.client() as client:
        foreign = await client.get("/files/cors-widening", headers={"Origin": EVIL, **bearer})
        assert foreign.status_code == 200
        assert cors_headers(foreign) == {}
        own = await client.get("/files/cors-widening", headers={"Origin": APP, **bearer})
        assert own.headers.get_list("access-control-allow-origin") == [APP]


async def test_gateway_errors_carry_cors_headers(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(cors_origins=[APP], rate_limit_api="1/60")
    async with gateway.client() as client:
        unauthorized = await client.get("/files/download/1", headers={"Origin": APP})
        assert unauthorized.status_code == 401
        assert unauthorized.headers["access-control-allow-origin"] == APP
        assert unauthorized.headers["access-control-allow-credentials"] == "true"
        assert listed(unauthorized.headers["access-control-expose-headers"]) == EXPOSED
        limited = await client.get("/files/download/1", headers={"Origin": APP})
        assert limited.status_code == 429
        assert limited.headers["access-control-allow-origin"] == APP
        assert "retry-after" in limited.headers


async def test_cookie_post_from_an_allowed_origin_passes_the_cross_site_check(
    cors_gateway: RunningGateway, session_cookie: str
) -> None:
    async with cors_gateway.client() as client:
        trusted = await client.post(
            "/files/convert",
            headers={"Cookie": session_cookie, "Origin": APP, "Sec-Fetch-Site": "cross-site"},
            json={},
        )
        assert trusted.status_code == 200
        assert trusted.headers["access-control-allow-origin"] == APP
        foreign = await client.post(
            "/files/convert",
            headers={"Cookie": session_cookie, "Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
            json={},
        )
        assert foreign.status_code == 403
        assert foreign.json()["code"] == "cross_site_request"
        assert "detail" in foreign.json()
        assert cors_headers(foreign) == {}
        # Skype dialect for the same refusal on a Skype route.
        skype = await client.post("/api/logout", headers={"Cookie": session_cookie, "Origin": EVIL})
        assert skype.status_code == 403
        assert set(skype.json()) >= {"error", "code"}


async def test_allowlist_is_what_trusts_the_origin(
    gateway: RunningGateway, session_cookie: str
) -> None:
    async with gateway.client() as client:
        response = await client.post(
            "/files/convert", headers={"Cookie": session_cookie, "Origin": APP}, json={}
        )
        assert response.status_code == 403


async def test_websocket_cookie_handshake_needs_an_allowed_origin(
    cors_gateway: RunningGateway, upstreams: Upstreams
) -> None:
    upstreams.auth.grant("ws-cors-session", sid="sess-ws-cors")
    upstreams.auth.grant("ws-cors-key", sid="key:ws-cors", role="service")
    url = f"{cors_gateway.ws_url}/ws/comments/s-cors"
    cookie = {"Cookie": "session_id=ws-cors-session"}
    async with connect(url, additional_headers={**cookie, "Origin": APP}) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers={**cookie, "Origin": EVIL}):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"] == "CROSS_SITE_REQUEST"
    # The query key is not ambient: any origin may use it, cookie or not.
    async with connect(
        f"{url}?api_key=ws-cors-key", additional_headers={**cookie, "Origin": EVIL}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


def test_origins_are_validated_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GATEWAY_CORS_ORIGINS", '["HTTPS://App.Example:443/", "http://localhost:3000"]'
    )
    assert GatewaySettings().cors_origins == ["https://app.example", "http://localhost:3000"]
    for bad in ("*", "null", "https://*.app.example", "https://app.example/path", "ftp://a.b"):
        with pytest.raises(ValidationError):
            GatewaySettings(cors_origins=[bad])
    with pytest.raises(ValidationError):
        GatewaySettings(cors_allow_headers=["*"])
