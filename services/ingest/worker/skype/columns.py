"""A batch of ``SkypeMessage`` records as columns, for work done column-wise.

The analytics (``SkypeAnalytics.add_batch``) and the COPY rows (the worker's
``bulk_rows.write_message_rows``) read the same batch; ``message_columns`` transposes it
once (a C-level ``zip``) and derives the send times as integer arrays:

- ``sent_ms``: ``round(sent_at.timestamp() * 1000)`` exactly as Python computes it (the
  same IEEE operations, rounding half to even), the analytics' time base;
- ``sent_us``: the exact epoch microseconds (``sent_at - 1970-01-01`` in µs), the
  COPY rows' time. From the float timestamp where that is exact (between 1900 and 2039,
  where ``|µs| * 2^-52 < 0.5``), else computed exactly per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from services.ingest.worker.skype.records import SkypeMessage

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_EXACT_FLOAT_SECONDS = 2.2e9
"""Below this many seconds from the epoch, ``rint(timestamp * 1e6)`` is the exact µs."""

Array = np.ndarray[Any, Any]


class MessageColumns(NamedTuple):
    """One tuple per ``SkypeMessage`` field (same names, same order), and the times."""

    conversation_id: tuple[str, ...]
    message_id: tuple[str, ...]
    sender_id: tuple[str, ...]
    sender_name: tuple[str | None, ...]
    sent_at: tuple[datetime, ...]
    raw_type: tuple[str, ...]
    category: tuple[str, ...]
    text: tuple[str, ...]
    edited_at: tuple[datetime | None, ...]
    deleted: tuple[bool, ...]
    call_duration_s: tuple[float | None, ...]
    call_event: tuple[str | None, ...]
    media_name: tuple[str | None, ...]
    media_size: tuple[int | None, ...]
    quote_of: tuple[str | None, ...]
    mentions: tuple[tuple[str, ...], ...]
    edit_of: tuple[str | None, ...]
    emoticons: tuple[tuple[str, ...], ...]
    sent_ms: Array
    sent_us: Array

    @property
    def size(self) -> int:
        return len(self.conversation_id)


_EMPTY_FIELDS: tuple[tuple[Any, ...], ...] = ((),) * len(SkypeMessage._fields)


def message_columns(messages: Sequence[SkypeMessage]) -> MessageColumns:
    """``messages`` (a batch, any length) as columns."""
    fields = tuple(zip(*messages, strict=True)) if messages else _EMPTY_FIELDS
    sent = fields[4]
    seconds = np.fromiter(map(datetime.timestamp, sent), dtype=np.float64, count=len(sent))
    sent_ms = np.rint(seconds * 1000.0).astype(np.int64)
    if seconds.size and float(np.abs(seconds).max()) >= _EXACT_FLOAT_SECONDS:
        sent_us = np.fromiter(
            ((moment - _EPOCH) // _ONE_US for moment in sent), dtype=np.int64, count=len(sent)
        )
    else:
        sent_us = np.rint(seconds * 1e6).astype(np.int64)
    return MessageColumns(*fields, sent_ms, sent_us)  # type: ignore[call-arg, arg-type]
