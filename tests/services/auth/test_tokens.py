"""Forged, expired and confused tokens are refused; key rotation logs nobody out."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.service.runtime import AuthRuntime
from tests.services.auth.conftest import INTERNAL_TOKEN, AuthDriver


def claims_for(access_token: str, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    claims.update(changes)
    return claims


async def user_status(client: httpx.AsyncClient, token: str) -> int:
    return (
        await client.get("/api/auth/user/", headers={"Authorization": f"Bearer {token}"})
    ).status_code


async def genuine(driver: AuthDriver) -> str:
    return str((await driver.login(await driver.register())).json()["access_token"])


async def test_a_genuine_token_is_accepted(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    assert await user_status(client, await genuine(driver)) == 200


async def test_signature_from_another_key_is_refused(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    token = await genuine(driver)
    kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(
        claims_for(token), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
    )
    assert await user_status(client, forged) == 401


async def test_alg_none_and_hmac_confusion_are_refused(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    token = await genuine(driver)
    kid = jwt.get_unverified_header(token)["kid"]
    claims = claims_for(token)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    assert await user_status(client, unsigned) == 401
    jwks = (await client.get("/internal/jwks", headers={"X-Internal-Token": INTERNAL_TOKEN})).json()
    public_x = next(k["x"] for k in jwks["keys"] if k["kid"] == kid)
    secret = base64.urlsafe_b64decode(public_x + "==")
    header = base64.urlsafe_b64encode(
        b'{"alg":"HS256","typ":"JWT","kid":"' + kid.encode() + b'"}'
    ).rstrip(b"=")
    payload = jwt.encode(claims, secret, algorithm="HS256").split(".")[1]
    signing_input = header + b"." + payload.encode()
    signature = base64.urlsafe_b64encode(
        hmac.new(secret, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    assert await user_status(client, (signing_input + b"." + signature).decode()) == 401


async def test_tampered_claims_are_refused(client: httpx.AsyncClient, driver: AuthDriver) -> None:
    token = await genuine(driver)
    header, _payload, signature = token.split(".")
    claims = claims_for(token, role="admin")
    new_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await user_status(client, f"{header}.{new_payload}.{signature}") == 401


async def sign(runtime: AuthRuntime, claims: dict[str, Any]) -> str:
    key = await runtime.keys.signer()
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


async def test_expired_wrong_audience_and_wrong_type_are_refused(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    token = await genuine(driver)
    now = int(time.time())
    # Properly signed, but each one wrong in one way.
    assert await user_status(client, await sign(runtime, claims_for(token))) == 200
    expired = claims_for(token, iat=now - 3600, nbf=now - 3600, exp=now - 60, jti=uuid.uuid4().hex)
    assert await user_status(client, await sign(runtime, expired)) == 401
    assert (
        await user_status(client, await sign(runtime, claims_for(token, aud="someone-else"))) == 401
    )
    assert await user_status(client, await sign(runtime, claims_for(token, iss="evil"))) == 401
    assert await user_status(client, await sign(runtime, claims_for(token, typ="refresh"))) == 401
    no_jti = claims_for(token)
    del no_jti["jti"]
    assert await user_status(client, await sign(runtime, no_jti)) == 401
    unknown_session = claims_for(token, sid=str(uuid.uuid4()))
    assert await user_status(client, await sign(runtime, unknown_session)) == 401


async def test_rotation_keeps_outstanding_tokens_valid(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    before = await genuine(driver)
    old_kid = jwt.get_unverified_header(before)["kid"]
    # The activation delay must exceed a verifier's JWKS refetch interval (5 s): a
    # verifier that fetched just before the rotation may refetch when the new kid shows up.
    delay = 6.0
    new_kid = await runtime.keys.rotate(activation_delay_seconds=delay)
    assert new_kid != old_kid
    jwks = (await client.get("/internal/jwks", headers={"X-Internal-Token": INTERNAL_TOKEN})).json()
    assert {old_kid, new_kid} <= {k["kid"] for k in jwks["keys"]}
    assert jwt.get_unverified_header(await genuine(driver))["kid"] == old_kid
    await asyncio.sleep(delay + 0.2)
    after = await genuine(driver)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    assert await user_status(client, before) == 200
    assert await user_status(client, after) == 200


async def test_a_scheduled_key_is_published_before_it_signs(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    current = (await runtime.keys.signer()).kid
    scheduled = await runtime.keys.rotate(activation_delay_seconds=3600)
    jwks = (await client.get("/internal/jwks", headers={"X-Internal-Token": INTERNAL_TOKEN})).json()
    assert scheduled in {k["kid"] for k in jwks["keys"]}
    token = await genuine(driver)
    assert jwt.get_unverified_header(token)["kid"] == current
