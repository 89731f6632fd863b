"""Rows for PostgreSQL's COPY, written as CSV files (``COPY ... FORMAT csv``).

CSV because the ``csv`` module writes it in C and PostgreSQL reads it without any
per-row work in Python on the loading side (analysis streams the file into COPY).
Conventions the loader relies on (``services/analysis`` declares the same columns):

- an unquoted empty field is NULL; the loader lists the NOT NULL text columns in
  ``FORCE_NOT_NULL`` so that an empty string stays an empty string there;
- booleans are ``t``/``f``, times ISO 8601 with their offset, arrays PostgreSQL array
  literals (``{"a","b"}``);
- NUL characters, which PostgreSQL text cannot hold, are dropped.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

# The columns of analysis.skype_messages, in file order.
MESSAGE_COLUMNS = (
    "export_id",
    "seq",
    "client_id",
    "conversation_id",
    "message_id",
    "sender_id",
    "sender_name",
    "sent_at",
    "edited_at",
    "category",
    "raw_type",
    "content",
    "deleted",
    "call_duration_s",
    "call_event",
    "media_name",
    "media_size",
    "quote_of",
    "edit_of",
    "mentions",
)
# Empty means empty string (not NULL) in these.
MESSAGE_NOT_NULL_TEXT = (
    "conversation_id",
    "message_id",
    "sender_id",
    "category",
    "raw_type",
    "content",
)

CONVERSATION_COLUMNS = (
    "export_id",
    "conversation_id",
    "name",
    "kind",
    "participants",
    "message_count",
)
CONVERSATION_NOT_NULL_TEXT = ("conversation_id", "name", "kind")


def clean(value: str) -> str:
    return value.replace("\x00", "") if "\x00" in value else value


def optional(value: str | None) -> str | None:
    if not value:
        return None
    return clean(value)


def timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def array_literal(items: Iterable[str]) -> str:
    """A PostgreSQL text[] literal: every element quoted, ``"`` and ``\\`` escaped."""
    parts = ['"' + clean(item).replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items]
    return "{" + ",".join(parts) + "}"


def csv_writer(out: IO[str]) -> Any:
    return csv.writer(out, lineterminator="\n")


def message_row(export_id: int, seq: int, client_id: str | None, message: Any) -> tuple[Any, ...]:
    """One row of :data:`MESSAGE_COLUMNS` for a ``SkypeMessage``.

    The hot loop of a Skype load (once per message): the helpers above are inlined.
    """
    nul = "\x00"
    conversation_id = message.conversation_id
    message_id = message.message_id
    sender_id = message.sender_id
    sender_name = message.sender_name or None
    raw_type = message.raw_type
    text = message.text
    media_name = message.media_name or None
    quote_of = message.quote_of or None
    edit_of = message.edit_of or None
    edited_at = message.edited_at
    mentions = message.mentions
    return (
        export_id,
        seq,
        client_id,
        conversation_id.replace(nul, "") if nul in conversation_id else conversation_id,
        message_id.replace(nul, "") if nul in message_id else message_id,
        sender_id.replace(nul, "") if nul in sender_id else sender_id,
        sender_name.replace(nul, "") if sender_name and nul in sender_name else sender_name,
        message.sent_at.isoformat(),
        edited_at.isoformat() if edited_at is not None else None,
        message.category,
        raw_type.replace(nul, "") if nul in raw_type else raw_type,
        text.replace(nul, "") if nul in text else text,
        "t" if message.deleted else "f",
        message.call_duration_s,
        message.call_event,
        media_name.replace(nul, "") if media_name and nul in media_name else media_name,
        message.media_size,
        quote_of.replace(nul, "") if quote_of and nul in quote_of else quote_of,
        edit_of.replace(nul, "") if edit_of and nul in edit_of else edit_of,
        array_literal(mentions) if mentions else None,
    )


def conversation_row(export_id: int, conversation: Any) -> tuple[Any, ...]:
    return (
        export_id,
        clean(conversation.id),
        clean(conversation.name or ""),
        conversation.kind,
        array_literal(conversation.participants),
        conversation.message_count,
    )
