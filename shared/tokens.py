"""Access-token verification for every service and the gateway.

Tokens are JWTs signed by auth with an asymmetric key (EdDSA/Ed25519), ``kid``
in the header. The verifier accepts only the algorithms it is told to (never
``none``, never HMAC, so no key-confusion), requires ``exp``, ``iat``, ``iss``,
``aud``, ``jti`` and ``sub``, and consults the revocation list.

A token whose signature and claims were verified once is remembered (a bounded LRU of
token -> principal): a request that presents it again costs a dictionary look-up, not
an Ed25519 verification and a JWT decode, which were most of a cached read's time in
the profile service. A remembered token is still refused once it expires (``exp`` plus
the leeway), once its ``sid`` or ``jti`` is revoked, and once auth stops publishing the
key that signed it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import jwt
from jwt import PyJWK

from shared.errors import InvalidToken
from shared.identity import Principal
from shared.revocation import RevocationList

if TYPE_CHECKING:  # only the helpers below take an httpx client
    import httpx

ALLOWED_ALGORITHMS = ("EdDSA",)
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "jti", "sub")
JwksSource = Callable[[], Awaitable[dict[str, Any]]]


def remote_jwks(client: httpx.AsyncClient, url: str, internal_token: str) -> JwksSource:
    """A JWKS source that asks auth over HTTP."""

    async def fetch() -> dict[str, Any]:
        response = await client.get(url, headers={"X-Internal-Token": internal_token})
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    return fetch


class TokenVerifier:
    """Verifies access tokens against auth's published keys, cached in memory.

    An unknown ``kid`` triggers a refetch (at most every ``min_refetch_seconds``),
    so auth can rotate keys without anybody restarting or logging out.
    """

    def __init__(
        self,
        jwks_source: JwksSource,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationList | None = None,
        leeway_seconds: int = 5,
        min_refetch_seconds: float = 5.0,
        remembered: int = 4096,
    ) -> None:
        self._source = jwks_source
        self._issuer = issuer
        self._audience = audience
        self._revocations = revocations
        self._leeway = leeway_seconds
        self._min_refetch = min_refetch_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        # token -> (principal, kid of its signing key); least recently used first.
        self._verified: OrderedDict[str, tuple[Principal, str]] = OrderedDict()
        self._remembered = remembered

    @property
    def key_count(self) -> int:
        return len(self._keys)

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._min_refetch:
                return
            jwks = await self._source()
            keys: dict[str, PyJWK] = {}
            for entry in jwks.get("keys", []):
                kid = entry.get("kid")
                if kid and entry.get("use", "sig") == "sig":
                    keys[kid] = PyJWK(entry)
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _key_for(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is None:
            try:
                await self.refresh()
            except Exception as exc:
                raise InvalidToken("Token signing keys are unavailable") from exc
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken()
        return key

    def _decode(self, token: str, key: PyJWK) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        return claims

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header: dict[str, Any] = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(header.get("kid"), str):
            raise InvalidToken()
        return header

    async def verify(self, token: str) -> Principal:
        """The principal of a valid, unrevoked access token; :class:`InvalidToken` otherwise."""
        principal = self._remembered_principal(token)
        if principal is None:
            header = self._header(token)
            kid = header["kid"]
            claims = self._decode(token, await self._key_for(kid))
            if claims.get("typ") != "access":
                raise InvalidToken()
            try:
                principal = Principal.from_claims(claims)
            except (KeyError, ValueError) as exc:
                raise InvalidToken() from exc
            self._remember(token, principal, kid)
        if self._revocations is not None and (
            self._revocations.is_revoked(principal.session_id)
            or self._revocations.is_revoked(principal.token_id)
        ):
            raise InvalidToken("Token has been revoked")
        return principal

    def _remembered_principal(self, token: str) -> Principal | None:
        entry = self._verified.get(token)
        if entry is None:
            return None
        principal, kid = entry
        if time.time() > principal.expires_at + self._leeway or kid not in self._keys:
            del self._verified[token]  # verified again in full (and refused)
            return None
        self._verified.move_to_end(token)
        return principal

    def _remember(self, token: str, principal: Principal, kid: str) -> None:
        if self._remembered <= 0:
            return
        self._verified[token] = (principal, kid)
        while len(self._verified) > self._remembered:
            self._verified.popitem(last=False)
