"""Credential resolution: who is calling, and which access token to forward.

- ``Authorization: Bearer <JWT>``: verified here (signature with auth's published
  keys, algorithm, expiry, issuer, audience, revocation) and forwarded unchanged.
  A verified token is remembered until it expires, so a client reusing its token
  costs a dictionary lookup plus the in-memory revocation check.
- ``X-API-Key`` (Skype per-user keys, ``pk_`` keys, the development key), the
  WebSocket ``?api_key=`` and the session cookies ``session`` / ``session_id``:
  introspected with auth, which answers with a short-lived access token for the
  principal; the answer is cached (:mod:`gateway.introspection_cache`) and
  forwarded as ``Authorization: Bearer``.

A credential the client deliberately sent (header or query) must be valid: a
bad one is a 401 even where the route allows anonymous callers. A stale session
cookie, which browsers send on their own, only counts where the route requires
authentication. Auth being unreachable is a 503, never a 401.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from enum import StrEnum

from gateway.auth_client import AuthClient, AuthServiceUnavailable, CredentialKind
from gateway.introspection_cache import Introspected, IntrospectionCache, credential_key
from gateway.token_cache import VerifiedTokenCache
from shared.errors import InvalidToken, ServiceUnavailable, Unauthorized
from shared.identity import Principal
from shared.internal import MAX_INTROSPECTED_CREDENTIAL
from shared.log import get_logger
from shared.revocation import RevocationList
from shared.tokens import TokenVerifier

log = get_logger("gateway.authentication")

SESSION_COOKIES = ("session_id", "session")


class IntrospectionRefused(Exception):
    """The credential is unknown here and the caller may not make auth look it up now."""


class Source(StrEnum):
    BEARER = "bearer"
    API_KEY = "api_key"
    QUERY = "query"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class Credential:
    source: Source
    value: str
    cookie_name: str | None = None

    @property
    def kind(self) -> CredentialKind:
        return "session" if self.source is Source.COOKIE else "api_key"

    @property
    def deliberate(self) -> bool:
        """Sent on purpose (not a cookie a browser attaches by itself)."""
        return self.source is not Source.COOKIE


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A verified caller and the bearer token that proves it to the services."""

    principal: Principal
    access_token: str
    source: Source

    @property
    def via_cookie(self) -> bool:
        return self.source is Source.COOKIE


def parse_cookies(header: str) -> dict[str, str]:
    """Cookie pairs by name (first occurrence wins, as browsers send the most specific first)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def find_credentials(
    authorization: str | None,
    api_key: str | None,
    cookie_header: str | None,
    query_api_key: str | None = None,
) -> list[Credential]:
    """Every credential in the request, strongest first."""
    found: list[Credential] = []
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            found.append(Credential(Source.BEARER, token.strip()))
    if api_key and api_key.strip():
        found.append(Credential(Source.API_KEY, api_key.strip()))
    if query_api_key and query_api_key.strip():
        found.append(Credential(Source.QUERY, query_api_key.strip()))
    if cookie_header:
        cookies = parse_cookies(cookie_header)
        for name in SESSION_COOKIES:
            value = cookies.get(name)
            if value:
                found.append(Credential(Source.COOKIE, value, name))
    return found


class Authenticator:
    """Turns the credentials of a request into a verified principal and token."""

    def __init__(
        self,
        verifier: TokenVerifier,
        auth_client: AuthClient,
        revocations: RevocationList | None,
        *,
        introspection_cache: IntrospectionCache,
        token_cache: VerifiedTokenCache,
        max_cache_seconds: float,
        expiry_margin_seconds: float,
        negative_ttl_seconds: float,
    ) -> None:
        self._verifier = verifier
        self.auth_client = auth_client
        self._revocations = revocations
        self.introspection_cache = introspection_cache
        self.token_cache = token_cache
        self._max_cache = max_cache_seconds
        self._margin = expiry_margin_seconds
        self._negative_ttl = negative_ttl_seconds
        self._in_flight: dict[str, asyncio.Task[Introspected | None]] = {}
        self.introspection_calls = 0
        if revocations is not None:
            revocations.on_revoke(self._on_revoke)

    def _on_revoke(self, handle: str) -> None:
        # Bearer tokens need no eviction: every cached use re-checks the revocation list.
        self.introspection_cache.evict_handle(handle)

    def _revoked(self, principal: Principal) -> bool:
        revocations = self._revocations
        return revocations is not None and (
            revocations.is_revoked(principal.session_id)
            or revocations.is_revoked(principal.token_id)
        )

    async def verify_bearer(self, token: str) -> Principal:
        principal = self.token_cache.get(token)
        if principal is not None:
            if self._revoked(principal):
                raise InvalidToken("Token has been revoked")
            return principal
        principal = await self._verifier.verify(token)
        self.token_cache.put(token, principal)
        return principal

    async def introspect(
        self, credential: Credential, *, allow_remote: bool = True
    ) -> Introspected | None:
        """The active grant for an API key or session, ``None`` when auth says inactive.

        With ``allow_remote`` false, a credential not in the cache raises
        :class:`IntrospectionRefused` instead of costing a call to auth.
        """
        if len(credential.value) > MAX_INTROSPECTED_CREDENTIAL:
            return None  # auth would refuse to look it up: no credential it issues is that long
        key = credential_key(credential.kind, credential.value)
        cached = self.introspection_cache.get(key)
        if cached is False:
            return None
        if isinstance(cached, Introspected):
            handle_revoked = self._revocations is not None and self._revocations.is_revoked(
                cached.handle
            )
            if not handle_revoked and not self._revoked(cached.principal):
                return cached
            self.introspection_cache.evict_handle(cached.handle or "")
        if not allow_remote:
            raise IntrospectionRefused
        # One call to auth per credential, however many requests carry it at once; the
        # call runs as its own task, so the first caller going away does not fail the rest.
        pending = self._in_flight.get(key)
        if pending is None:
            pending = asyncio.create_task(self._introspect_uncached(credential, key))
            self._in_flight[key] = pending
            pending.add_done_callback(lambda task: self._settled(key, task))
        return await asyncio.shield(pending)

    def _settled(self, key: str, task: asyncio.Task[Introspected | None]) -> None:
        self._in_flight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter went away

    async def _introspect_uncached(self, credential: Credential, key: str) -> Introspected | None:
        self.introspection_calls += 1
        try:
            answer = await self.auth_client.introspect(credential.kind, credential.value)
        except AuthServiceUnavailable as exc:
            log.warning("introspection_failed", error=str(exc))
            retry = max(1, math.ceil(self.auth_client.breaker.retry_after()))
            raise ServiceUnavailable(
                "Authentication service unavailable", headers={"Retry-After": str(retry)}
            ) from exc
        if not answer.get("active"):
            self.introspection_cache.put_negative(key, self._negative_ttl)
            return None
        token = answer.get("access_token")
        if not isinstance(token, str):
            raise ServiceUnavailable("Authentication service gave an unusable answer")
        try:
            principal = await self._verifier.verify(token)
        except InvalidToken as exc:
            log.warning("introspection_token_rejected", error=exc.message)
            raise ServiceUnavailable("Authentication service gave an unusable answer") from exc
        expires_in = float(answer.get("expires_in") or max(0, principal.expires_at - time.time()))
        ttl = min(expires_in - self._margin, self._max_cache)
        handle = answer.get("sid") or principal.session_id
        entry = Introspected(
            access_token=token,
            principal=principal,
            handle=str(handle) if handle else None,
            expires_at=self.introspection_cache.clock() + max(ttl, 0.0),
        )
        if ttl > 0:
            self.introspection_cache.put(key, entry)
        return entry

    async def authenticate(
        self, credentials: list[Credential], *, required: bool, allow_introspection: bool = True
    ) -> Authenticated | None:
        """The caller behind ``credentials``; ``None`` for an allowed anonymous caller.

        Raises :class:`Unauthorized` / :class:`InvalidToken` (401) or
        :class:`ServiceUnavailable` (503, auth unreachable).
        """
        stale_cookie = False
        for credential in credentials:
            if credential.source is Source.BEARER:
                principal = await self.verify_bearer(credential.value)
                return Authenticated(principal, credential.value, credential.source)
            grant = await self.introspect(credential, allow_remote=allow_introspection)
            if grant is not None:
                return Authenticated(grant.principal, grant.access_token, credential.source)
            if credential.deliberate:
                raise InvalidToken("Invalid or expired API key")
            stale_cookie = True
        if required:
            if stale_cookie:
                raise InvalidToken("Session expired or invalid")
            raise Unauthorized()
        return None
