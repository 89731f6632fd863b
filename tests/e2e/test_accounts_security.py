"""Attacks on accounts through the gateway: brute force, forged tokens, internal routes."""

import time
import uuid

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.platform import RunningPlatform
from tests.e2e.accounts_helpers import bearer, other_ip, person, register


async def test_guessing_cannot_lock_the_owner_out(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    """Issue 8 §2: one address guessing is refused after its limit (5 by default) with
    a 429 that says so; guesses from rotating addresses (10, the old lockout) do not
    lock the account; the owner, from an address of their own, logs in."""
    victim = person(unique, "victim")
    await register(gateway_client, victim)
    attacker = {"X-Forwarded-For": other_ip()}
    guess = {"username": victim.username, "password": "Guess_123!"}
    for _ in range(5):
        response = await gateway_client.post("/auth/login", json=guess, headers=attacker)
        assert response.status_code == 401
    for path in ("/auth/login", "/api/login", "/api/auth/login/"):
        blocked = await gateway_client.post(
            path,
            json={"username": victim.username, "password": victim.password},
            headers=attacker,
        )
        assert blocked.status_code == 429, (path, blocked.text)
        retry_after = int(blocked.headers["Retry-After"])
        assert retry_after >= 1
        assert "Too many failed login attempts" in blocked.text
        # The headers are auth's throttle's (passed through), not a gateway bucket's.
        assert blocked.headers["X-RateLimit-Limit"] == "5"
        assert blocked.headers["X-RateLimit-Remaining"] == "0"
        reset = int(blocked.headers["X-RateLimit-Reset"])
        assert abs(reset - (time.time() + retry_after)) <= 3
    for _ in range(10):
        rotating = await gateway_client.post(
            "/auth/login", json=guess, headers={"X-Forwarded-For": other_ip()}
        )
        assert rotating.status_code == 401
    for path in ("/auth/login", "/api/login", "/api/auth/login/"):
        owner = await gateway_client.post(
            path,
            json={"username": victim.username, "password": victim.password},
            headers={"X-Forwarded-For": other_ip()},
        )
        assert owner.status_code == 200, (path, owner.text)


async def test_forged_and_expired_tokens_are_refused(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    who = person(unique)
    await register(gateway_client, who)
    headers = await bearer(gateway_client, who)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert (await gateway_client.get("/api/auth/user/", headers=headers)).status_code == 200
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    attacker = Ed25519PrivateKey.generate()
    forgeries = [
        jwt.encode({**claims, "role": "admin"}, attacker, algorithm="EdDSA", headers={"kid": kid}),
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        jwt.encode(
            {**claims, "exp": int(time.time()) - 120, "jti": uuid.uuid4().hex},
            attacker,
            algorithm="EdDSA",
            headers={"kid": "unknown-kid"},
        ),
    ]
    for forged in forgeries:
        response = await gateway_client.get(
            "/api/auth/user/",
            headers={"Authorization": f"Bearer {forged}", "X-Forwarded-For": other_ip()},
        )
        assert response.status_code == 401


async def test_internal_routes_are_not_reachable_through_the_gateway(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    for method, path in (
        ("GET", "/internal/jwks"),
        ("POST", "/internal/introspect"),
        ("GET", "/internal/revocations"),
    ):
        response = await gateway_client.request(
            method,
            path,
            json={"kind": "api_key", "credential": platform.dev_api_key},
            headers={"X-Internal-Token": platform.env["QUARRY_INTERNAL_TOKEN"]},
        )
        assert response.status_code == 404, path
    # On auth's own port they exist, behind the internal token.
    async with httpx.AsyncClient(base_url=platform.service_urls["auth"]) as auth:
        assert (await auth.get("/internal/jwks")).status_code == 401


async def test_public_openapi_lists_auth_routes_without_internal_ones(
    gateway_client: httpx.AsyncClient,
) -> None:
    paths = (await gateway_client.get("/openapi.json")).json()["paths"]
    assert "/api/register" in paths
    assert "/auth/api-keys/generate" in paths
    assert not [p for p in paths if p.startswith("/internal")]
