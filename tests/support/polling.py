"""Polling the gateway for a job's state without tripping its rate limit.

A status route is read at the API class's 100 requests a minute per caller: a test
that polls every 0.2 s is refused (429) after 20 s, which a loaded CI machine's slow
job outlasts. :func:`poll_get` waits out a 429 as its ``Retry-After`` says (a real
client would) instead of failing, bounded by the caller's deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


async def poll_get(
    gw: httpx.AsyncClient, url: str, *, deadline: float, headers: dict[str, str] | None = None
) -> httpx.Response:
    """``GET url``; a 429 is waited out (``Retry-After``) and asked again until
    ``deadline`` (``time.monotonic()``); any other answer is returned."""
    while True:
        response = await gw.get(url, headers=headers)
        if response.status_code != 429:
            return response
        retry_after = float(response.headers.get("Retry-After", "1"))
        assert time.monotonic() + retry_after < deadline, f"still rate limited: {response.text}"
        await asyncio.sleep(retry_after)


async def poll_json(
    gw: httpx.AsyncClient, url: str, *, deadline: float, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """:func:`poll_get`, asserting a 200 JSON object."""
    response = await poll_get(gw, url, deadline=deadline, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
