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


# --- a verified token is remembered, and still refused when it should be -----------------


class Revoked:
    """What the verifier asks a revocation list (the handles revoked now)."""

    def __init__(self) -> None:
        self.handles: set[str] = set()

    def is_revoked(self, handle: str | None) -> bool:
        return handle in self.handles


def counting(ring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature the verifier checks."""
    checked: list[str] = []
    original = TokenVerifier._decode

    def decode(self: TokenVerifier, token: str, key: Any) -> dict[str, Any]:
        checked.append(token)
        return original(self, token, key)

    monkeypatch.setattr(TokenVerifier, "_decode", decode)
    return checked


async def test_a_verified_token_is_not_verified_again(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = counting(ring, monkeypatch)
    v, token = verifier(ring), sign(ring, ring.add())
    first = await v.verify(token)
    assert await v.verify(token) == first
    assert await v.verify(token) == first
    assert checked == [token]


async def test_a_remembered_token_is_checked_in_full_once_it_expires(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = counting(ring, monkeypatch)
    v = TokenVerifier(ring.jwks, issuer=ISS, audience=AUD, leeway_seconds=0)
    now = int(time.time())
    token = sign(ring, ring.add(), iat=now - 10, exp=now + 2)
    await v.verify(token)
    await v.verify(token)
    assert checked == [token]
    real_time = time.time
    monkeypatch.setattr("shared.tokens.time.time", lambda: real_time() + 3)
    # Past its exp the memory is not used: the token is decoded again, and PyJWT's own
    # clock (not moved here, so it still accepts) has the last word.
    await v.verify(token)
    assert checked == [token, token]


async def test_a_remembered_token_is_refused_once_revoked(ring: KeyRing) -> None:
    revoked = Revoked()
    v = TokenVerifier(ring.jwks, issuer=ISS, audience=AUD, revocations=revoked)  # type: ignore[arg-type]
    token = sign(ring, ring.add())
    await v.verify(token)
    revoked.handles.add("sess-1")
    with pytest.raises(InvalidToken, match="revoked"):
        await v.verify(token)


async def test_a_remembered_token_is_refused_once_its_key_is_retired(ring: KeyRing) -> None:
    v = verifier(ring)
    old = ring.add()
    token = sign(ring, old)
    await v.verify(token)
    del ring.keys[old]
    await v.verify(sign(ring, ring.add()))  # an unknown kid: the keys are fetched again
    with pytest.raises(InvalidToken):
        await v.verify(token)


async def test_the_memory_is_bounded(ring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = counting(ring, monkeypatch)
    v = TokenVerifier(ring.jwks, issuer=ISS, audience=AUD, remembered=2)
    kid = ring.add()
    tokens = [sign(ring, kid) for _ in range(3)]
    for token in tokens:
        await v.verify(token)
    await v.verify(tokens[0])  # forgotten (least recently used): checked again
    await v.verify(tokens[2])  # remembered
    assert checked == [*tokens, tokens[0]]
