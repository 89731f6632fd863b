"""Rows for PostgreSQL's COPY, written as CSV files (``COPY ... FORMAT csv``).

CSV because it is written without per-row work in Python (the messages a batch at a
time: ``write_message_rows`` turns a batch's columns into a polars frame and polars
writes it, times formatted there, with the GIL released) and PostgreSQL reads it without
any on the loading side (analysis streams the file into COPY). ``message_row`` is the
same row for one message (the csv module), kept as the definition the tests compare
with. Conventions the loader relies on (``services/analysis`` declares the same columns):

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

import numpy as np
import polars as pl

from services.ingest.worker.skype.columns import MessageColumns

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


_NUL = "\x00"
_INT64 = (-(2**63), 2**63 - 1)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f+00:00"


def _int_column(name: str, values: tuple[int | None, ...]) -> pl.Series:
    """BIGINT values; one that does not fit (hostile markup) is NULL rather than a failed
    COPY."""
    try:
        return pl.Series(name, values, dtype=pl.Int64)
    except (OverflowError, TypeError, ValueError, pl.exceptions.PolarsError):
        low, high = _INT64
        fitting = [v if v is not None and low <= v <= high else None for v in values]
        return pl.Series(name, fitting, dtype=pl.Int64)


def _time_column(name: str, micros: np.ndarray[Any, Any]) -> pl.Series:
    """Exact epoch microseconds as UTC times."""
    return pl.Series(name, micros, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))


_OPTIONAL_TEXT = ("sender_name", "media_name", "quote_of", "edit_of")
_SCANNED = ("conversation_id", "message_id", "sender_id", "raw_type", "content", *_OPTIONAL_TEXT)


def message_frame(
    export_id: int, first_seq: int, client_id: str | None, columns: MessageColumns
) -> pl.DataFrame:
    """The rows of :data:`MESSAGE_COLUMNS` for a batch (``message_row`` of each message,
    ``seq`` counting from ``first_seq``): NULs dropped, an empty optional text NULL."""
    n = columns.size
    edited = columns.edited_at
    mentions = columns.mentions
    text = pl.String
    frame = pl.DataFrame(
        [
            pl.Series("export_id", np.full(n, export_id, dtype=np.int64)),
            pl.Series("seq", np.arange(first_seq, first_seq + n, dtype=np.int64)),
            pl.Series("client_id", [client_id] * n, dtype=text),
            pl.Series("conversation_id", columns.conversation_id, dtype=text),
            pl.Series("message_id", columns.message_id, dtype=text),
            pl.Series("sender_id", columns.sender_id, dtype=text),
            pl.Series("sender_name", columns.sender_name, dtype=text),
            _time_column("sent_at", columns.sent_us),
            pl.Series(
                "edited_at",
                [moment.isoformat() if moment is not None else None for moment in edited]
                if edited.count(None) != n
                else [None] * n,
                dtype=text,
            ),
            pl.Series("category", columns.category, dtype=text),
            pl.Series("raw_type", columns.raw_type, dtype=text),
            pl.Series("content", columns.text, dtype=text),
            pl.Series("deleted", columns.deleted, dtype=pl.Boolean),
            pl.Series("call_duration_s", columns.call_duration_s, dtype=pl.Float64),
            pl.Series("call_event", columns.call_event, dtype=text),
            pl.Series("media_name", columns.media_name, dtype=text),
            _int_column("media_size", columns.media_size),
            pl.Series("quote_of", columns.quote_of, dtype=text),
            pl.Series("edit_of", columns.edit_of, dtype=text),
            pl.Series(
                "mentions",
                [array_literal(m) if m else None for m in mentions]
                if mentions.count(()) != n
                else [None] * n,
                dtype=text,
            ),
        ]
    )
    # Rare: a NUL (PostgreSQL text cannot hold it), an empty optional text (NULL, as
    # ``message_row`` writes it). Looked for over the whole batch; fixed in one pass.
    fixes: dict[str, pl.Expr] = {}
    found = frame.select(pl.col(_SCANNED).str.contains(_NUL, literal=True).any()).row(0)
    for name, has_nul in zip(_SCANNED, found, strict=True):
        if has_nul:
            fixes[name] = pl.col(name).str.replace_all(_NUL, "", literal=True)
    for name in _OPTIONAL_TEXT:
        if name in fixes or "" in getattr(columns, name):
            column = fixes.get(name, pl.col(name))
            fixes[name] = pl.when(column == "").then(None).otherwise(column)
    if fixes:
        frame = frame.with_columns(**fixes)
    return frame


def write_message_rows(out: IO[bytes], frame: pl.DataFrame) -> None:
    """``frame`` (``message_frame``) appended to ``out`` as COPY CSV rows."""
    frame.write_csv(out, include_header=False, datetime_format=_TIME_FORMAT, null_value="")
