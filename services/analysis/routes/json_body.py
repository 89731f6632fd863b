"""Reading a JSON body with a size bound: refused while it streams in (413), never
parsed whole past the bound."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from shared.errors import BadRequest, PayloadTooLarge


async def read_json(request: Request, limit: int, *, what: str = "request") -> Any:
    """The body's JSON value, ``None`` for an empty body."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The {what} body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"The {what} body is larger than {limit} bytes")
    if not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest(f"Invalid {what}: the body is not valid JSON") from None
