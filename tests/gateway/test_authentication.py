"""Credentials at the gateway: Bearer JWTs verified locally (forgeries refused in the
route's dialect), API keys and session cookies introspected with auth and cached,
revocation felt at once, and no unverified identity ever forwarded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio import Redis

from gateway.penalties import PenaltyBox
from shared.revocation import publish_revocation
from tests.gateway.conftest import RunningGateway, StartGateway, Upstreams
from tests.gateway.support import KeyRing


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forgeries(keyring: KeyRing) -> dict[str, str]:
    claims = keyring.claims()
    other_key = Ed25519PrivateKey.generate()
    return {
        "alg_none": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': keyring.kid})}.{b64(claims)}.",
        "hs256_with_public_key_as_secret": _hs256(
            claims, json.dumps(keyring.jwks()["keys"][0]).encode(), keyring.kid
        ),
        "hs256_plain": _hs256(claims, b"secret", keyring.kid),
        "wrong_key_same_kid": jwt.encode(
            claims, other_key, algorithm="EdDSA", headers={"kid": keyring.kid}
        ),
        "unknown_kid": jwt.encode(claims, other_key, algorithm="EdDSA", headers={"kid": "nope"}),
        "expired": keyring.mint(exp=int(time.time()) - 60, iat=int(time.time()) - 400),
        "wrong_audience": keyring.mint(aud="someone-else"),
        "wrong_issuer": keyring.mint(iss="https://evil.example"),
        "refresh_not_access": keyring.mint(typ="refresh"),
        "tampered_payload": _tamper(keyring.mint(role="user")),
        "garbage": "not-a-jwt",
    }


def _hs256(claims: dict[str, object], secret: bytes, kid: str) -> str:
    """An HMAC token keyed with the public key: the algorithm-confusion attack."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["role"] = "admin"
    return f"{header}.{b64(data)}.{signature}"


FORGERY_NAMES = list(forgeries(KeyRing()))


@pytest.mark.parametrize("name", FORGERY_NAMES)
async def test_forged_tokens_are_refused_in_the_profile_dialect(
    client: httpx.AsyncClient, keyring: KeyRing, upstreams: Upstreams, name: str
) -> None:
    token = forgeries(keyring)[name]
    seen_before = len(upstreams.profile.seen)
    response = await client.get("/profile/alice", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "AUTHENTICATION_REQUIRED"
    assert body["message"]
    assert body["details"] == "Provide either X-API-Key header or Authorization: Bearer <token>"
    assert body["request_id"] == response.headers["x-request-id"]
    assert len(upstreams.profile.seen) == seen_before  # never reached the service


@pytest.mark.parametrize(
    ("path", "method", "field", "value"),
    [
        ("/api/exports", "GET", "error", None),  # Skype: {"error": "<message>"}
        ("/api/auth/user/", "GET", "detail", None),  # PyAnalypt
        ("/files/download/1", "GET", "detail", None),  # Files
        ("/client/export/chats", "POST", "error_code", "unauthorized"),  # Export
        ("/sessions", "GET", "error", "AUTHENTICATION_REQUIRED"),  # Profile
    ],
)
async def test_forgery_answers_in_each_dialect(
    client: httpx.AsyncClient,
    keyring: KeyRing,
    path: str,
    method: str,
    field: str,
    value: str | None,
) -> None:
    token = forgeries(keyring)["alg_none"]
    response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "invalid_token"
    assert isinstance(body[field], str)
    if value is not None:
        assert body[field] == value


async def test_missing_credentials_on_required_routes(client: httpx.AsyncClient) -> None:
    profile = await client.get("/sessions")
    assert profile.status_code == 401
    assert profile.json()["error"] == "AUTHENTICATION_REQUIRED"
    assert profile.json()["message"] == "Valid authentication credentials required"
    skype = await client.get("/api/profile")
    assert skype.status_code == 401
    assert skype.json()["error"] == "Valid authentication credentials required"


async def test_valid_bearer_is_forwarded_unchanged(
    client: httpx.AsyncClient, keyring: KeyRing
) -> None:
    token = keyring.mint()
    response = await client.get("/sessions", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["headers"]["authorization"] == f"Bearer {token}"


async def test_api_key_is_introspected_cached_and_replaced_by_a_token(
    client: httpx.AsyncClient, upstreams: Upstreams, keyring: KeyRing
) -> None:
    upstreams.auth.grant("pk_cached_key", user_id="u-key", sid="key:k1")
    before = upstreams.auth.introspections
    for _ in range(5):
        response = await client.get("/sessions", headers={"X-API-Key": "pk_cached_key"})
        assert response.status_code == 200
        headers = response.json()["headers"]
        assert "x-api-key" not in headers
        minted = headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(minted, options={"verify_signature": False})
        assert claims["sub"] == "u-key"
    assert upstreams.auth.introspections == before + 1


async def test_concurrent_requests_with_a_new_key_introspect_once(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    upstreams.auth.grant("pk_burst", user_id="u-burst", sid="key:burst")
    upstreams.auth.introspection_delay = 0.2
    try:
        before = upstreams.auth.introspections
        async with gateway.client() as client:
            responses = await asyncio.gather(
                *(client.get("/sessions", headers={"X-API-Key": "pk_burst"}) for _ in range(20))
            )
        assert [r.status_code for r in responses] == [200] * 20
        assert upstreams.auth.introspections == before + 1
    finally:
        upstreams.auth.introspection_delay = 0.0


async def test_unknown_api_key_is_401_even_on_optional_routes(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/upload/", headers={"X-API-Key": "pk_unknown"}, content=b"")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert "detail" in response.json()


async def test_guest_upload_needs_no_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/upload/", files={"file": ("a.csv", b"a,b\n1,2\n")})
    assert response.status_code == 200
    assert "authorization" not in response.json()["headers"]


async def test_session_cookies_are_introspected(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.auth.grant("skype-session-value", user_id="u-skype", sid="sess-skype")
    upstreams.auth.grant("files-session-value", user_id="u-files", sid="sess-files")
    for cookie, user in (
        ("session=skype-session-value", "u-skype"),
        ("session_id=files-session-value", "u-files"),
    ):
        response = await client.get("/api/profile", headers={"Cookie": cookie})
        assert response.status_code == 200, response.text
        token = response.json()["headers"]["authorization"].removeprefix("Bearer ")
        assert jwt.decode(token, options={"verify_signature": False})["sub"] == user


async def test_stale_cookie_is_anonymous_on_optional_routes_and_401_on_required(
    client: httpx.AsyncClient,
) -> None:
    optional = await client.post(
        "/api/upload/", headers={"Cookie": "session_id=expired"}, content=b""
    )
    assert optional.status_code == 200
    required = await client.get("/api/profile", headers={"Cookie": "session=expired"})
    assert required.status_code == 401


async def test_websocket_query_api_key_is_not_an_http_credential(
    client: httpx.AsyncClient, upstreams: Upstreams
) -> None:
    upstreams.auth.grant("pk_query_only", sid="key:q")
    response = await client.get("/sessions", params={"api_key": "pk_query_only"})
    assert response.status_code == 401


async def test_revocation_evicts_cached_key_at_once(
    gateway: RunningGateway, upstreams: Upstreams, redis_url: str
) -> None:
    upstreams.auth.grant("pk_to_revoke", user_id="u-rev", sid="key:revoke-me")
    async with gateway.client() as client:
        assert (
            await client.get("/sessions", headers={"X-API-Key": "pk_to_revoke"})
        ).status_code == 200
        # auth regenerates the key: the old one is inactive and its handle revoked.
        del upstreams.auth.grants["pk_to_revoke"]
        redis = Redis.from_url(redis_url)
        try:
            await publish_revocation(redis, "key:revoke-me", time.time() + 600)
        finally:
            await redis.aclose()
        for _ in range(50):
            response = await client.get("/sessions", headers={"X-API-Key": "pk_to_revoke"})
            if response.status_code == 401:
                break
            await asyncio.sleep(0.02)
        assert response.status_code == 401


async def test_revoked_bearer_session_is_refused(
    gateway: RunningGateway, keyring: KeyRing, redis_url: str
) -> None:
    token = keyring.mint(sid="sess-logout")
    async with gateway.client() as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        redis = Redis.from_url(redis_url)
        try:
            await publish_revocation(redis, "sess-logout", time.time() + 600)
        finally:
            await redis.aclose()
        for _ in range(50):
            response = await client.get("/sessions", headers=headers)
            if response.status_code == 401:
                break
            await asyncio.sleep(0.02)
        assert response.status_code == 401


async def test_public_routes_ignore_and_strip_credentials(
    client: httpx.AsyncClient, keyring: KeyRing, upstreams: Upstreams
) -> None:
    before = upstreams.auth.introspections
    response = await client.post(
        "/auth/login",
        json={"username": "u", "password": "p"},
        headers={
            "Authorization": "Bearer forged.token.here",
            "X-API-Key": "pk_whatever",
            "X-User-Id": "admin",
            "X-Internal-Token": "guess",
        },
    )
    assert response.status_code == 200
    headers = response.json()["headers"]
    for name in ("authorization", "x-api-key", "x-user-id", "x-internal-token"):
        assert name not in headers
    assert upstreams.auth.introspections == before


async def test_optional_register_forwards_a_verified_admin(
    client: httpx.AsyncClient, keyring: KeyRing
) -> None:
    token = keyring.mint(role="admin")
    response = await client.post(
        "/auth/register", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.json()["headers"]["authorization"] == f"Bearer {token}"
    anonymous = await client.post("/auth/register", json={})
    assert anonymous.status_code == 200
    assert "authorization" not in anonymous.json()["headers"]


async def test_auth_down_is_503_not_401(start_gateway: StartGateway) -> None:
    from deploy.ports import free_port

    gateway = await start_gateway(auth_internal_url=f"http://127.0.0.1:{free_port()}")
    async with gateway.client() as client:
        response = await client.get("/sessions", headers={"X-API-Key": "pk_any"})
    assert response.status_code == 503
    assert response.json()["error"] == "SERVICE_UNAVAILABLE"


async def test_repeated_bad_keys_from_one_address_stop_reaching_auth(
    start_gateway: StartGateway, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(rate_limit_api="5/60")
    before = upstreams.auth.introspections
    async with gateway.client(ip="10.250.1.1") as client:
        statuses = [
            (await client.get("/sessions", headers={"X-API-Key": f"pk_guess_{i}"})).status_code
            for i in range(12)
        ]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    # Guesses past the limit cost auth nothing.
    assert upstreams.auth.introspections - before <= 6


async def test_a_rejected_key_is_remembered_for_the_negative_ttl_only(
    start_gateway: StartGateway, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(introspection_negative_ttl_seconds=5)
    cache = gateway.app.runtime.authenticator.introspection_cache
    offset = 0.0
    cache.clock = lambda: time.monotonic() + offset
    headers = {"X-API-Key": "pk_rejected_once"}
    before = upstreams.auth.introspections
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 401
        assert (await client.get("/sessions", headers=headers)).status_code == 401
        assert upstreams.auth.introspections == before + 1  # the second answered from memory
        offset = 5.1  # past the negative TTL
        assert (await client.get("/sessions", headers=headers)).status_code == 401
        assert upstreams.auth.introspections == before + 2
        # A key granted since is found at once after the TTL (not refused for longer).
        upstreams.auth.grant("pk_rejected_once", sid="key:late")
        offset = 10.2
        assert (await client.get("/sessions", headers=headers)).status_code == 200


def test_the_penalty_table_is_bounded_and_keeps_the_newest_offender() -> None:
    now = 1000.0
    box = PenaltyBox(max_entries=2, clock=lambda: now)
    box.penalise("10.0.0.1", 30)
    box.penalise("10.0.0.2", 30)
    box.penalise("10.0.0.3", 30)  # full of live penalties: the oldest makes room
    assert len(box) == 2
    assert box.displaced == 1
    assert "10.0.0.1" not in box
    assert "10.0.0.3" in box
    now += 31  # both expired: dropped as met, no live one displaced
    box.penalise("10.0.0.4", 30)
    assert len(box) == 1
    assert box.displaced == 1
    assert box.remaining("10.0.0.4") == 30


async def test_penalised_addresses_overflowing_the_table_still_get_429(
    start_gateway: StartGateway, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(rate_limit_api="2/60", penalised_addresses_max=2)
    penalties = gateway.app.runtime.penalties
    for n in range(3):
        async with gateway.client(ip=f"10.251.0.{n + 1}") as client:
            statuses = [
                (await client.get("/sessions", headers={"X-API-Key": f"pk_g{n}_{i}"})).status_code
                for i in range(3)
            ]
        assert statuses == [401, 401, 429]
    assert len(penalties) == 2
    assert penalties.displaced == 1
    before = upstreams.auth.introspections
    async with gateway.client(ip="10.251.0.3") as client:  # penalised: auth is not asked
        response = await client.get("/sessions", headers={"X-API-Key": "pk_g2_new"})
    assert response.status_code == 429
    assert upstreams.auth.introspections == before


async def test_while_auth_fails_new_credentials_fail_fast_and_cached_ones_work(
    start_gateway: StartGateway, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(control_timeout_seconds=0.2, auth_breaker_seconds=30)
    breaker = gateway.app.runtime.authenticator.auth_client.breaker
    offset = 0.0
    breaker.clock = lambda: time.monotonic() + offset
    upstreams.auth.grant("pk_cached_before", sid="key:cached")
    async with gateway.client() as client:
        cached = {"X-API-Key": "pk_cached_before"}
        assert (await client.get("/sessions", headers=cached)).status_code == 200
        upstreams.auth.introspection_delay = 1.0  # auth stalls past the 0.2 s timeout
        try:
            before = upstreams.auth.introspections
            statuses = [
                (await client.get("/sessions", headers={"X-API-Key": f"pk_new_{i}"})).status_code
                for i in range(5)
            ]
            assert statuses == [503] * 5
            # Only the first waited for auth; the breaker answered the other four.
            assert upstreams.auth.introspections == before + 1
            assert (breaker.stats.failures, breaker.stats.refused) == (1, 4)
            refused = await client.get("/sessions", headers={"X-API-Key": "pk_new_x"})
            assert int(refused.headers["retry-after"]) >= 1
            # What is cached does not need auth.
            assert (await client.get("/sessions", headers=cached)).status_code == 200
            detailed = (await client.get("/monitoring/detailed")).json()
            assert detailed["components"]["auth_breaker"]["state"] == "open"
        finally:
            upstreams.auth.introspection_delay = 0.0
        offset = 31.0  # open period over: the next new credential is the trial
        upstreams.auth.grant("pk_after", sid="key:after")
        assert (await client.get("/sessions", headers={"X-API-Key": "pk_after"})).status_code == 200
        assert breaker.closed
