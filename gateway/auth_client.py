"""The gateway's two questions to auth, over the internal network: the signing
keys (JWKS) and what an API key or session cookie stands for (introspection).

Both go through the gateway's one pooled HTTP client with the internal token and
a short timeout; neither is ever routed for clients.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp

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
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {INTERNAL_TOKEN_HEADER: internal_token}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set auth signs access tokens with (a ``JwksSource``)."""
        return await self._call("GET", "/internal/jwks")

    async def introspect(self, kind: CredentialKind, credential: str) -> dict[str, Any]:
        """Auth's answer for a raw credential: ``{"active": false}`` or the active grant."""
        return await self._call(
            "POST", "/internal/introspect", json={"kind": kind, "credential": credential}
        )

    async def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
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
