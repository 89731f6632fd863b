"""Chat-widget messages of a tenant (``POST /client/chats`` and its batch form).

Who may post: any credential of the tenant holding the ``chat`` permission (a key made
for a widget, which can do nothing else) or ``write`` (``*`` holds both). The message
belongs to the caller's tenant (``client_id``); nothing in the body can name another.

What is recorded: the body's fields (:class:`~services.analysis.schemas.ChatMessageIn`,
sizes bounded there), the caller's IP as the gateway saw it (``X-Forwarded-For`` is
believed only from the gateway: :func:`shared.net.client_ip` with the trusted proxies,
and the gateway proof strips it from anything else), ``User-Agent`` and ``Referer``
when the body does not give them, and what geolocation knows of the IP at that moment
(:mod:`services.analysis.service.geo`). A message sent again with the same
``message_id`` is stored once; the answer names the stored one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.analysis.repository import AnalysisRepository
from services.analysis.schemas import ChatMessageIn
from services.analysis.service.geo import GeoLocator, parse_address
from shared.errors import BadRequest, Forbidden
from shared.identity import Principal

CHAT_PERMISSIONS = ("chat", "write")
# A widget's clock may run a little ahead of ours; a message from the future may not.
FUTURE_TOLERANCE = timedelta(minutes=5)
DEFAULT_EMBED_NAME = "Embed User"
_MESSAGE = TypeAdapter(ChatMessageIn)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the request came from, as the service may believe it."""

    ip: str | None
    user_agent: str | None
    referrer: str | None


def _clean(value: str | None, limit: int) -> str | None:
    """PostgreSQL text holds no NUL; a header may be longer than a field."""
    if value is None:
        return None
    cleaned = value.replace("\x00", "")[:limit]
    return cleaned or None


def invalid(prefix: str, error: ValidationError, index: int | None = None) -> BadRequest:
    details = [
        {
            "loc": ([index] if index is not None else []) + list(item["loc"]),
            "msg": item["msg"],
            "type": item["type"],
        }
        for item in error.errors(include_input=False, include_url=False)
    ]
    first = details[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return BadRequest(f"{prefix}: {where}: {first['msg']}", details=details)


def parse_message(raw: Any, index: int | None = None) -> ChatMessageIn:
    try:
        return _MESSAGE.validate_python(raw)
    except ValidationError as exc:
        raise invalid("Invalid chat message", exc, index) from None


def normalised_ip(value: str | None) -> str | None:
    address = parse_address(value)
    return str(address) if address is not None else None


class ChatIngestion:
    def __init__(self, session: AsyncSession, geo: GeoLocator, *, geo_wait: float) -> None:
        self.session = session
        self.repo = AnalysisRepository(session)
        self._geo = geo
        self._geo_wait = geo_wait

    @staticmethod
    def check_allowed(principal: Principal) -> None:
        if not any(principal.has_scope(p) for p in CHAT_PERMISSIONS):
            raise Forbidden("This credential may not post chat messages (chat or write needed)")
        if not principal.client_id:
            raise Forbidden("This credential belongs to no client")

    async def record(self, principal: Principal, raw: Any, origin: Origin) -> dict[str, Any]:
        self.check_allowed(principal)
        message = parse_message(raw)
        stored = await self._store(principal, [message], origin)
        return stored[0]

    async def record_batch(
        self, principal: Principal, raw: Any, origin: Origin, *, max_messages: int
    ) -> dict[str, Any]:
        self.check_allowed(principal)
        if not isinstance(raw, dict) or set(raw) != {"messages"}:
            raise BadRequest('Invalid chat batch: the body must be {"messages": [...]}')
        items = raw["messages"]
        if not isinstance(items, list) or not items:
            raise BadRequest("Invalid chat batch: messages must be a non-empty list")
        if len(items) > max_messages:
            raise BadRequest(f"Invalid chat batch: at most {max_messages} messages at once")
        messages = [parse_message(item, index) for index, item in enumerate(items)]
        stored = await self._store(principal, messages, origin)
        return {
            "success": True,
            "accepted": sum(1 for s in stored if not s["duplicate"]),
            "duplicates": sum(1 for s in stored if s["duplicate"]),
            "ids": [s["id"] for s in stored],
        }

    async def _store(
        self, principal: Principal, messages: Sequence[ChatMessageIn], origin: Origin
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        ip = normalised_ip(origin.ip)
        if ip is not None and not self._geo.ready:
            await self._geo.wait_ready(self._geo_wait)
        geo = self._geo.locate(ip)
        rows: list[dict[str, Any]] = []
        for message in messages:
            sent_at = message.timestamp or now
            if sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=UTC)
            if sent_at > now + FUTURE_TOLERANCE:
                raise BadRequest("Invalid chat message: timestamp is in the future")
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "client_id": principal.client_id,
                    "posted_by": principal.user_id,
                    "external_id": _clean(message.message_id, 128),
                    "conversation_id": _clean(message.conversation_id, 128) or "-",
                    "session_id": _clean(message.session_id, 128),
                    "from_name": _clean(message.from_name, 200)
                    or (DEFAULT_EMBED_NAME if message.is_embed_user else None),
                    "message": _clean(message.message, 10_000) or "",
                    "reply": _clean(message.reply, 20_000),
                    "token_cost": message.token_cost,
                    "user_ip": ip,
                    "user_agent": _clean(message.user_agent or origin.user_agent, 1024),
                    "referrer": _clean(message.referrer or origin.referrer, 2048),
                    "is_embed_user": message.is_embed_user,
                    "from_user_id": _clean(message.from_user_id, 128),
                    "user_name": _clean(message.user_name, 200),
                    "user_email": _clean(message.user_email, 320),
                    "country": geo.country,
                    "country_code": geo.country_code,
                    "isp": _clean(geo.isp, 200),
                    "organization": _clean(geo.organization, 200),
                    "ip_type": geo.ip_type,
                    "sent_at": sent_at,
                    "created_at": now,
                }
            )
        stored = await self.repo.insert_chat_messages(rows)
        await self.session.commit()
        return [
            {
                "success": True,
                "id": str(row["id"]),
                "duplicate": row["duplicate"],
                "conversation_id": row["conversation_id"],
                "timestamp": row["sent_at"],
                "ip_type": row["ip_type"],
                "country_code": row["country_code"],
            }
            for row in stored
        ]
