"""The platform over HTTP, as a user meets it: requests with the demo's credential,
errors with the platform's own reason, and the same requests as one-line ``curl``
commands that a person can paste."""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

KEY_HEADER = "X-API-Key"
# Uploads wait for their processing (a Skype export answers once parsed).
UPLOAD_TIMEOUT = httpx.Timeout(180.0, connect=10.0)
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER = 30.0


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0


class PlatformError(Exception):
    """The platform refused a request: what was asked and what it answered."""

    def __init__(self, method: str, path: str, status: int, reason: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {reason}")
        self.method, self.path, self.status, self.reason = method, path, status, reason


def error_reason(response: httpx.Response) -> str:
    """The human reason in any of the specs' error dialects (``error``, ``message``,
    ``detail``), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        for field in ("message", "detail", "error"):
            value = body.get(field)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:
                return json.dumps(value)[:300]
    return json.dumps(body)[:300]


class Platform:
    """One pooled client on the gateway; ``api_key`` (once known) goes on every request."""

    def __init__(
        self,
        base_url: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key: str | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=dict(extra_headers or {}),
            timeout=DEFAULT_TIMEOUT,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Platform:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- requests -------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200, 201),
        authenticated: bool = True,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """``method path``; a status outside ``expect`` raises :class:`PlatformError`."""
        sent = dict(headers or {})
        if authenticated and self.api_key and "Authorization" not in sent:
            sent[KEY_HEADER] = self.api_key
        # A rate limit answers when to come back; a file being uploaded cannot be resent.
        retries = 0 if "files" in kwargs else RATE_LIMIT_RETRIES
        while True:
            response = await self._http.request(
                method, path, headers=sent, timeout=timeout or DEFAULT_TIMEOUT, **kwargs
            )
            if response.status_code != 429 or retries == 0:
                break
            retries -= 1
            await asyncio.sleep(_retry_after(response))
        if response.status_code not in tuple(expect):
            raise PlatformError(method, path, response.status_code, error_reason(response))
        return response

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, body: Any, **kwargs: Any) -> Any:
        return (await self.request("POST", path, json=body, **kwargs)).json()

    # -- the same, as a person types it ------------------------------------------------

    def url(self, path: str, query: Mapping[str, str | int] | None = None) -> str:
        return self.base_url + path + (f"?{urlencode(query)}" if query else "")

    def curl(
        self,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        output: str | None = None,
        query: Mapping[str, str | int] | None = None,
    ) -> str:
        """A one-line curl of the request with the demo's key (``-o output`` for files)."""
        words = ["curl", "-sS"]
        if method != "GET" and body is None:
            words += ["-X", method]
        if self.api_key:
            words += ["-H", f"{KEY_HEADER}: {self.api_key}"]
        if body is not None:
            words += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        if output:
            words += ["-o", output]
        words.append(self.url(path, query))
        return shlex.join(words)

    def websocket_url(self, path: str, query: Mapping[str, str | int] | None = None) -> str:
        """``ws://`` (or ``wss://``) of ``path``, the key as ``?api_key=`` (WebSockets
        take no headers from a browser)."""
        params: dict[str, str | int] = dict(query or {})
        if self.api_key:
            params["api_key"] = self.api_key
        scheme, rest = self.base_url.split("://", 1)
        ws = "wss" if scheme == "https" else "ws"
        return f"{ws}://{rest}{path}" + (f"?{urlencode(params)}" if params else "")
