"""The gateway's questions to auth, over the internal network: the signing keys
(JWKS), what an API key or session cookie stands for (introspection), and which
credentials were revoked (the fallback feed while Redis is down).

All go through the gateway's one pooled HTTP client with the internal token and
a short timeout, behind one circuit breaker (:mod:`gateway.breaker`): while auth
fails, new credentials are refused at once (503) instead of each waiting the full
timeout; credentials already cached keep working. None is ever routed for clients.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp

from gateway.breaker import CircuitBreaker
from shared.internal import INTERNAL_TOKEN_HEADER

CredentialKind = Literal["api_key", "session"]


class AuthServiceUnavailable(Exception):
    """Auth did not answer (down, slow, or an unexpected reply)."""


class AuthClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        internal_token: str,
        timeout_seconds: float,
        breaker_seconds: float,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {INTERNAL_TOKEN_HEADER: internal_token}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.breaker = CircuitBreaker("auth", breaker_seconds)

    async def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set auth signs access tokens with (a ``JwksSource``)."""
        return await self._call("GET", "/internal/jwks")

    async def introspect(self, kind: CredentialKind, credential: str) -> dict[str, Any]:
        """Auth's answer for a raw credential: ``{"active": false}`` or the active grant."""
        return await self._call(
            "POST", "/internal/introspect", json={"kind": kind, "credential": credential}
        )

    async def revocations(self, since: float | None) -> tuple[list[tuple[str, float]], float]:
        """Handles revoked since the cursor ``since`` (all of them without), and the next
        cursor (auth's ``/internal/revocations``, complete whether Redis is up or not).

        Polled in the background while Redis is down: not behind the breaker, which
        guards the request path (a failed poll must not refuse credentials)."""
        path = "/internal/revocations" if since is None else f"/internal/revocations?since={since}"
        answer = await self._request("GET", path, None)
        try:
            revoked = [(str(e["handle"]), float(e["until"])) for e in answer["revoked"]]
            cursor = float(answer["cursor"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthServiceUnavailable(
                f"auth answered an unusable revocation feed: {exc!r}"
            ) from exc
        return revoked, cursor

    async def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        breaker = self.breaker
        if not breaker.allow():
            raise AuthServiceUnavailable(f"auth is failing: {path} not asked (breaker open)")
        try:
            data = await self._request(method, path, json)
        except AuthServiceUnavailable as exc:
            breaker.failure(exc)
            raise
        if not breaker.closed:
            breaker.success()
        return data

    async def _request(self, method: str, path: str, json: Any) -> dict[str, Any]:
        try:
            async with self._session.request(
                method,
                self._base + path,
                json=json,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                if response.status != 200:
                    raise AuthServiceUnavailable(f"auth answered {response.status} on {path}")
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AuthServiceUnavailable(f"auth unreachable on {path}: {exc!r}") from exc
        if not isinstance(data, dict):
            raise AuthServiceUnavailable(f"auth answered a non-object on {path}")
        return data
