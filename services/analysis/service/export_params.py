"""The Export spec's parameters, read from a JSON body (``POST /client/export/chats``)
or a query string (``GET /client/export/chats/download``) into :class:`ExportParams`.

Every refusal is a 400 ``invalid_request`` whose message starts "Invalid export
request: ..." (the spec's own example for a bad format, word for word). Dates are
``YYYY-MM-DD`` or ISO 8601 date-times (``Z`` or an offset; none means UTC); a date
alone as ``date_to`` means the whole of that day. A body naming an unknown field is
refused (a misspelt ``inlude_geo`` would otherwise pass unnoticed); a query string's
other parameters are ignored (caches and tools add their own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.errors import BadRequest

FORMATS = ("json", "excel", "both")
FORMAT_ERROR = "Invalid export request: format must be one of [json, excel, both]"
DEFAULT_LIMIT = 10_000
FIELDS = frozenset(
    {
        "format",
        "date_from",
        "date_to",
        "client_id",
        "conversation_id",
        "limit",
        "include_geo",
        "include_meta",
        "include_full_ip",
    }
)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_MAX_ID = 128


def invalid(reason: str) -> BadRequest:
    return BadRequest(f"Invalid export request: {reason}")


@dataclass(frozen=True, slots=True)
class ExportParams:
    format: str
    since: datetime | None
    before: datetime | None
    date_from: str | None
    date_to: str | None
    client_id: str | None
    conversation_id: str | None
    limit: int
    include_geo: bool
    include_meta: bool
    include_full_ip: bool

    def filters(self) -> dict[str, Any]:
        """The request as given (the audit log and the kept export record it)."""
        return {
            "format": self.format,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "client_id": self.client_id,
            "conversation_id": self.conversation_id,
            "limit": self.limit,
            "include_geo": self.include_geo,
            "include_meta": self.include_meta,
            "include_full_ip": self.include_full_ip,
        }


def _boolean(name: str, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid(f"{name} must be true or false")


def _limit(value: Any, maximum: int) -> int:
    if value is None:
        return min(DEFAULT_LIMIT, maximum)
    if isinstance(value, bool):
        raise invalid(f"limit must be an integer between 1 and {maximum}")
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= maximum:
        raise invalid(f"limit must be an integer between 1 and {maximum}")
    return value


def _identifier(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    value = value.strip()
    if len(value) > _MAX_ID or "\x00" in value:
        raise invalid(f"{name} must be at most {_MAX_ID} characters")
    return value or None


def _moment(name: str, value: Any, *, end: bool) -> tuple[datetime | None, str | None]:
    """The bound a date or date-time stands for: ``date_from`` inclusive, ``date_to``
    exclusive (a date: the next midnight; a date-time: one microsecond later)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if not isinstance(value, str):
        raise invalid(f"{name} must be YYYY-MM-DD or an ISO 8601 date-time")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return (start + timedelta(days=1) if end else start), text
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise invalid(f"{name} must be YYYY-MM-DD or an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment + timedelta(microseconds=1) if end else moment), text


def parse_export_params(raw: Any, *, max_limit: int, from_query: bool = False) -> ExportParams:
    """``raw``: the JSON body (an object; ``None`` for an empty body) or the query
    parameters."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise invalid("the body must be a JSON object")
    if not from_query:
        unknown = sorted(str(key) for key in raw if key not in FIELDS)
        if unknown:
            raise invalid(f"unknown field {unknown[0]!r}")
    fmt = raw.get("format", "json")
    if fmt is None:
        fmt = "json"
    if not isinstance(fmt, str) or fmt.strip().lower() not in FORMATS:
        raise BadRequest(FORMAT_ERROR)
    since, date_from = _moment("date_from", raw.get("date_from"), end=False)
    before, date_to = _moment("date_to", raw.get("date_to"), end=True)
    if since is not None and before is not None and since >= before:
        raise invalid("date_from is after date_to")
    return ExportParams(
        format=fmt.strip().lower(),
        since=since,
        before=before,
        date_from=date_from,
        date_to=date_to,
        client_id=_identifier("client_id", raw.get("client_id")),
        conversation_id=_identifier("conversation_id", raw.get("conversation_id")),
        limit=_limit(raw.get("limit"), max_limit),
        include_geo=_boolean("include_geo", raw.get("include_geo")),
        include_meta=_boolean("include_meta", raw.get("include_meta")),
        include_full_ip=_boolean("include_full_ip", raw.get("include_full_ip")),
    )
