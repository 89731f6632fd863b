from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.errors import InvalidToken
from shared.identity import AuthMethod, Principal, Role
from shared.tokens import TokenVerifier

ISS, AUD = "quarry-auth", "quarry"


class KeyRing:
    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.fetches = 0

    def add(self) -> str:
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = Ed25519PrivateKey.generate()
        return kid

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        out = []
        for kid, key in self.keys.items():
            jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"})
        return {"keys": out}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    principal = Principal(
        user_id="u1",
        username="alice",
        role=Role.USER,
        client_id="c1",
        scopes=("read",),
        session_id="sess-1",
        auth_method=AuthMethod.PASSWORD,
        token_id="t1",
        expires_at=now + 300,
    )
    base = {
        **principal.to_claims(),
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing()


def verifier(ring: KeyRing) -> TokenVerifier:
    return TokenVerifier(ring.jwks, issuer=ISS, audience=AUD, min_refetch_seconds=0)


def sign(ring: KeyRing, kid: str, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), ring.keys[kid], algorithm="EdDSA", headers={"kid": kid})


async def test_valid_token_yields_its_principal(ring: KeyRing) -> None:
    kid = ring.add()
    principal = await verifier(ring).verify(sign(ring, kid))
    assert (principal.username, principal.role, principal.client_id) == ("alice", Role.USER, "c1")


async def test_rotated_key_is_fetched_on_first_sight(ring: KeyRing) -> None:
    v = verifier(ring)
    await v.verify(sign(ring, ring.add()))
    new_kid = ring.add()
    assert (await v.verify(sign(ring, new_kid))).username == "alice"
    assert ring.fetches == 2


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 60},
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"jti": None},
        {"typ": "refresh"},
    ],
)
async def test_bad_claims_are_refused(ring: KeyRing, overrides: dict[str, Any]) -> None:
    kid = ring.add()
    with pytest.raises(InvalidToken):
        await verifier(ring).verify(sign(ring, kid, **overrides))


async def test_unsigned_alg_none_token_is_refused(ring: KeyRing) -> None:
    kid = ring.add()
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode())
    payload = base64.urlsafe_b64encode(json.dumps(claims()).encode())
    token = f"{header.decode().rstrip('=')}.{payload.decode().rstrip('=')}."
    with pytest.raises(InvalidToken):
        await verifier(ring).verify(token)


async def test_hmac_with_the_public_key_as_secret_is_refused(ring: KeyRing) -> None:
    kid = ring.add()
    public_pem = (
        ring.keys[kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = jwt.encode(claims(), public_pem.hex(), algorithm="HS256", headers={"kid": kid})
    with pytest.raises(InvalidToken):
        await verifier(ring).verify(forged)


async def test_token_signed_by_an_unknown_key_is_refused(ring: KeyRing) -> None:
    ring.add()
    stranger = KeyRing()
    kid = stranger.add()
    with pytest.raises(InvalidToken):
        await verifier(ring).verify(sign(stranger, kid))


async def test_garbage_is_refused(ring: KeyRing) -> None:
    ring.add()
    for token in ("", "abc", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.AAAA"):
        with pytest.raises(InvalidToken):
            await verifier(ring).verify(token)
