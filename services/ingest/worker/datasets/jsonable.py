"""Values made JSON-safe: no NaN or infinity (null), dates as ISO 8601, bytes as a
short hex preview, numbers as plain Python ints and floats."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

TEXT_LIMIT = 1_000
"""Characters of a value kept in a preview or an example; longer values end in ``…``."""


def jsonable(value: Any, *, text_limit: int | None = None) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if text_limit is not None and len(value) > text_limit:
            return value[:text_limit] + "…"
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return f"<{len(data)} bytes: {data[:16].hex()}{'…' if len(data) > 16 else ''}>"
    if isinstance(value, dict):
        return {str(k): jsonable(v, text_limit=text_limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, text_limit=text_limit) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return jsonable(value.item(), text_limit=text_limit)
    return str(value)
