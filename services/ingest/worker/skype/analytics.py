"""The analysis of one Skype export, built message by message in bounded memory.

``SkypeAnalytics(owner_id)``; ``add(message)`` for every parsed message (any order);
``result(conversations, names=...)`` returns the analysis document (JSON-serialisable).

What it keeps: counters per bucket (day, hour of week, category, type, conversation,
sender, call outcome, emoticon), a bounded word counter, and for the order-dependent
figures (response times) 16 bytes per message a person wrote (time, conversation,
sender) — no message text, no list of messages. At the 1 GiB upload limit (~2.5 M
messages) that is about 40 MB; everything else is independent of the message count.

Definitions (the document states them too; samples/skype_truth.py computes the same from
what the generator wrote, independently):

- times are UTC (the export carries no time zone); days are UTC dates, weekday 0 = Monday;
- every message counts in ``message_count``, per day, per hour of week, per conversation;
- contacts are people: senders other than the owner, not threads (``19:``), bots
  (``28:``) or lists (``48:``); a contact's ``message_count`` is the messages they sent,
  thread events (category ``system``) excluded; ``top_contacts`` ranks them (ties by name);
- response times: in 1:1 and group conversations, over messages a person wrote
  (categories text, media, file, contact, location, poll; old-style edit records
  excluded), sorted by time. A gap of more than 6 hours starts a *session*. A message
  whose sender differs from the previous one's, within a session, is a *reply*; the gap
  is its response time, the replier's. A session's *first response* is the time from
  its first message to the first message by someone else. Medians are exact;
- calls: ``Event/Call`` messages outside ``48:`` lists: started, ended (with the
  longest participant duration), missed; ``48:calllogs`` entries are counted apart;
- words: the whitespace-separated tokens of text messages not deleted, lower-cased,
  surrounding punctuation stripped, kept when made of letters (an apostrophe inside
  allowed: "don't"); links are not words; stop words of a few languages are left out
  of the top list. Exact until more than ``word_capacity`` distinct tokens are seen;
  then the rarest are dropped (``words.exact`` says so); emoji: unicode pictographs in
  the same texts, and Skype emoticons (``<ss type>``) counted by type.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from services.ingest.worker.skype.columns import Array, MessageColumns, message_columns
from services.ingest.worker.skype.parser import bare_id, conversation_kind
from services.ingest.worker.skype.records import CATEGORIES, Conversation, SkypeMessage
from services.ingest.worker.skype.stopwords import STOPWORDS

SESSION_GAP_S = 6 * 3600
_SESSION_GAP_MS = SESSION_GAP_S * 1000
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_RESPONSE_CATEGORIES = frozenset({"text", "media", "file", "contact", "location", "poll"})
_PUNCTUATION = (
    "".join({chr(c) for c in range(0x2070)} - {chr(c) for c in range(0x2070) if chr(c).isalnum()})
    + "\u2018\u2019\u201c\u201d\u2026"
)
_APOSTROPHES = ("'", "\u2019")
_EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001f3fa\U0001f400-\U0001faff]")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TEXT_BATCH = 4096
_EPOCH = date(1970, 1, 1)
_EMOTICON_GLYPHS = {
    "smile": "🙂", "laugh": "😆", "heart": "❤", "wink": "😉", "cry": "😢", "sad": "🙁",
    "cool": "😎", "surprised": "😮", "tongueout": "😛", "kiss": "😘", "like": "👍",
    "yes": "👍", "no": "👎", "angry": "😠", "facepalm": "🤦", "party": "🥳",
}  # fmt: skip
_HIGHLIGHT_CHARS = 600
_CATEGORY_CODE: dict[str, int] = {category: code for code, category in enumerate(CATEGORIES)}
_TEXT, _MEDIA, _FILE, _CALL, _SYSTEM = (
    _CATEGORY_CODE[c] for c in ("text", "media", "file", "call", "system")
)
_RESPONSE_CODES = np.array(sorted(_CATEGORY_CODE[c] for c in _RESPONSE_CATEGORIES), dtype=np.int8)
_KIND_CODE = {"one_to_one": 0, "group": 1, "bot": 2, "special": 3}
_ONE_TO_ONE, _GROUP, _SPECIAL = 0, 1, 3


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _day(day_index: int) -> str:
    return (_EPOCH + timedelta(days=day_index)).isoformat()


def _median_s(values: np.ndarray[Any, Any]) -> float | None:
    return round(float(np.median(values)) / 1000, 3) if values.size else None


def _mean_s(values: np.ndarray[Any, Any]) -> float | None:
    return round(float(values.mean()) / 1000, 3) if values.size else None


class SkypeAnalytics:
    """Accumulates the analysis; see the module docstring for every definition."""

    def __init__(
        self, owner_id: str | None = None, *, top: int = 10, word_capacity: int = 200_000
    ) -> None:
        self.owner_id = owner_id
        self._top = top
        self._word_capacity = word_capacity
        self._words_exact = True
        self.message_count = 0
        # Order-dependent figures: one entry per message a person wrote.
        self._times = array("q")
        self._convs = array("i")
        self._senders = array("i")
        # Buckets.
        self._conv_index: dict[str, int] = {}
        self._conv_ids: list[str] = []
        self._conv_kinds: list[str] = []
        self._conv_kind_codes: list[int] = []
        self._conv_counts: list[int] = []
        self._conv_first: list[int] = []
        self._conv_last: list[int] = []
        self._sender_index: dict[str, int] = {}
        self._sender_ids: list[str] = []
        self._sender_counts: list[int] = []
        self._names: dict[str, str] = {}
        self._days: Counter[int] = Counter()
        self._hour_of_week = [0] * 168
        self._categories: Counter[str] = Counter()
        self._raw_types: Counter[str] = Counter()
        self._system: Counter[str] = Counter()
        self._calls: Counter[str] = Counter()
        self._durations = array("d")
        self._call_log_entries = 0
        self._media: Counter[str] = Counter()
        self._media_bytes = 0
        self._edited = 0
        self._edit_records = 0
        self._deleted = 0
        self._quotes = 0
        self._mentions = 0
        self._with_mentions = 0
        self._emoticons: Counter[str] = Counter()
        self._words: Counter[str] = Counter()
        self._emoji: Counter[str] = Counter()
        self._texts: list[str] = []
        self._text_messages = 0
        self._with_links = 0
        self._first: tuple[int, SkypeMessage] | None = None
        self._last: tuple[int, SkypeMessage] | None = None
        self._longest: tuple[int, int, SkypeMessage] | None = None

    # -- feeding ---------------------------------------------------------------------------

    def add(self, message: SkypeMessage) -> None:
        """One message (``add_batch`` of one)."""
        self.add_batch((message,))

    def add_all(self, messages: Iterable[SkypeMessage]) -> None:
        batch: list[SkypeMessage] = []
        for message in messages:
            batch.append(message)
            if len(batch) >= _TEXT_BATCH:
                self.add_batch(batch)
                batch = []
        self.add_batch(batch)

    def add_batch(
        self, messages: Sequence[SkypeMessage], columns: MessageColumns | None = None
    ) -> None:
        """A batch of messages (in file order), counted column-wise: the same figures as
        adding them one by one. ``columns``: ``message_columns(messages)`` if the caller
        has it already."""
        n = len(messages)
        if not n:
            return
        cols = columns if columns is not None else message_columns(messages)
        self.message_count += n
        ms = cols.sent_ms
        ci = self._conversation_indexes(cols.conversation_id, ms)
        si = self._sender_indexes(cols.sender_id, cols.sender_name)

        day = ms // _DAY_MS
        days, per_day = np.unique(day, return_counts=True)
        day_counter = self._days
        for d, count in zip(days.tolist(), per_day.tolist(), strict=True):
            day_counter[d] += count
        hour_of_week = ((day + 3) % 7) * 24 + (ms // _HOUR_MS) % 24
        for slot, count in enumerate(np.bincount(hour_of_week, minlength=168).tolist()):
            if count:
                self._hour_of_week[slot] += count
        self._categories.update(cols.category)
        self._raw_types.update(cols.raw_type)
        code = np.fromiter(map(_CATEGORY_CODE.__getitem__, cols.category), np.int8, n)
        kind = np.asarray(self._conv_kind_codes, dtype=np.int8)[ci]

        system = code == _SYSTEM
        sent = np.bincount(si[~system], minlength=len(self._sender_ids)).tolist()
        sender_counts = self._sender_counts
        for index, count in enumerate(sent):
            if count:
                sender_counts[index] += count
        raw_types = cols.raw_type
        for index in np.flatnonzero(system).tolist():
            raw_type = raw_types[index]
            self._system[raw_type.partition("/")[2] or raw_type] += 1

        self._deleted += sum(cols.deleted)
        edit_of = cols.edit_of
        edit_records = n - edit_of.count(None)
        edited = n - cols.edited_at.count(None)
        record = np.zeros(n, dtype=bool)
        if edit_records:
            self._edit_records += edit_records
            records = [i for i, ref in enumerate(edit_of) if ref is not None]
            record[records] = True
            edited_at = cols.edited_at
            edited -= sum(1 for i in records if edited_at[i] is not None)
        self._edited += edited

        deleted = np.fromiter(cols.deleted, dtype=bool, count=n)
        texts = np.flatnonzero((code == _TEXT) & ~deleted)
        if texts.size:
            self._text_batch(cols, ms, texts.tolist(), messages)
        calls = np.flatnonzero(code == _CALL)
        if calls.size:
            self._call_batch(cols, kind, calls.tolist())
        media = np.flatnonzero((code == _MEDIA) | (code == _FILE))
        if media.size:
            categories, sizes = cols.category, cols.media_size
            for index in media.tolist():
                self._media[categories[index]] += 1
                self._media_bytes += sizes[index] or 0

        written = (
            np.isin(code, _RESPONSE_CODES) & ~record & ((kind == _ONE_TO_ONE) | (kind == _GROUP))
        )
        if written.any():
            self._times.frombytes(ms[written].astype(np.int64).tobytes())
            self._convs.frombytes(ci[written].astype(np.int32).tobytes())
            self._senders.frombytes(si[written].astype(np.int32).tobytes())

        earliest = int(np.argmin(ms))
        first = self._first
        if first is None or int(ms[earliest]) < first[0]:
            self._first = (int(ms[earliest]), messages[earliest])
        latest = n - 1 - int(np.argmax(ms[::-1]))
        last = self._last
        if last is None or int(ms[latest]) >= last[0]:
            self._last = (int(ms[latest]), messages[latest])

    def _conversation_indexes(self, conversation_ids: tuple[str, ...], ms: Array) -> Array:
        index = self._conv_index
        distinct = dict.fromkeys(conversation_ids)
        for conversation_id in distinct:
            if conversation_id not in index:
                self._new_conversation(conversation_id)
        if len(distinct) == 1:
            only = index[conversation_ids[0]]
            ci = np.full(len(conversation_ids), only, dtype=np.int32)
            self._count_conversation(only, ms)
            return ci
        ci = np.fromiter(map(index.__getitem__, conversation_ids), np.int32, len(ms))
        for conversation_id in distinct:
            at = index[conversation_id]
            self._count_conversation(at, ms[ci == at])
        return ci

    def _count_conversation(self, at: int, ms: Array) -> None:
        self._conv_counts[at] += int(ms.size)
        low, high = int(ms.min()), int(ms.max())
        if low < self._conv_first[at]:
            self._conv_first[at] = low
        if high > self._conv_last[at]:
            self._conv_last[at] = high

    def _sender_indexes(
        self, senders: tuple[str, ...], sender_names: tuple[str | None, ...]
    ) -> Array:
        index = self._sender_index
        names = self._names
        unnamed = False
        for sender in dict.fromkeys(senders):
            if sender not in index:
                index[sender] = len(self._sender_ids)
                self._sender_ids.append(sender)
                self._sender_counts.append(0)
            if sender not in names:
                unnamed = True
        if unnamed:  # the first name each sender is given, in file order
            for sender, name in zip(senders, sender_names, strict=True):
                if name and sender not in names:
                    names[sender] = name
        return np.fromiter(map(index.__getitem__, senders), np.int32, len(senders))

    def _text_batch(
        self,
        cols: MessageColumns,
        ms: Array,
        at: list[int],
        messages: Sequence[SkypeMessage],
    ) -> None:
        """The text messages (not deleted) of a batch, at positions ``at``."""
        self._text_messages += len(at)
        quotes, mentions, emoticons = cols.quote_of, cols.mentions, cols.emoticons
        if quotes.count(None) != len(quotes):
            self._quotes += sum(1 for i in at if quotes[i] is not None)
        if mentions.count(()) != len(mentions):
            for i in at:
                if mentions[i]:
                    self._mentions += len(mentions[i])
                    self._with_mentions += 1
        if emoticons.count(()) != len(emoticons):
            for i in at:
                if emoticons[i]:
                    self._emoticons.update(emoticons[i])
        text_col = cols.text
        kept = [i for i in at if text_col[i]]
        if not kept:
            return
        texts = [text_col[i] for i in kept]
        self._with_links += sum(1 for text in texts if "://" in text)
        lengths = list(map(len, texts))
        length = max(lengths)
        longest = self._longest
        if longest is None or length > longest[0]:
            where = kept[lengths.index(length)]
            self._longest = (length, int(ms[where]), messages[where])
        self._texts.extend(texts)
        while len(self._texts) >= _TEXT_BATCH:  # flushed where one by one would flush
            pending = self._texts
            self._texts = pending[:_TEXT_BATCH]
            self._flush_texts()
            self._texts = pending[_TEXT_BATCH:]

    def _call_batch(self, cols: MessageColumns, kind: Array, at: list[int]) -> None:
        raw_types, events, durations = cols.raw_type, cols.call_event, cols.call_duration_s
        kinds = kind.tolist()
        for i in at:
            if kinds[i] == _SPECIAL:
                self._call_log_entries += 1
            elif raw_types[i] == "Event/Call" and events[i]:
                self._calls[events[i]] += 1  # type: ignore[index]
                duration = durations[i]
                if duration is not None:
                    self._durations.append(duration)

    def _new_conversation(self, conversation_id: str) -> int:
        ci = len(self._conv_ids)
        self._conv_index[conversation_id] = ci
        self._conv_ids.append(conversation_id)
        kind = conversation_kind(conversation_id)
        self._conv_kinds.append(kind)
        self._conv_kind_codes.append(_KIND_CODE[kind])
        self._conv_counts.append(0)
        self._conv_first.append(2**62)
        self._conv_last.append(-(2**62))
        return ci

    def _flush_texts(self) -> None:
        """Counts the buffered texts' tokens (a C-level split of one joined string; the
        tokens are folded into words once, in ``result``) and their emoji."""
        texts = self._texts
        if not texts:
            return
        self._texts = []
        self._words.update("\n".join(texts).lower().split())
        unusual = [text for text in texts if not text.isascii()]
        if unusual:
            self._emoji.update(_EMOJI.findall("\n".join(unusual)))
        if len(self._words) > self._word_capacity:
            self._prune_words()

    def _prune_words(self) -> None:
        """Keep the most frequent half of the capacity; counts kept stay exact from their
        first sight, dropped words lose their counts (then ``exact`` is false)."""
        self._words_exact = False
        keep = self._word_capacity // 2
        threshold = sorted(self._words.values(), reverse=True)[keep]
        self._words = Counter({w: c for w, c in self._words.items() if c > threshold})

    # -- the document ----------------------------------------------------------------------

    def result(
        self, conversations: Sequence[Conversation] = (), names: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The analysis document. ``conversations`` (``ParsedExport.conversations()``) give
        names, kinds and participants (and the empty conversations); ``names``
        (``ParsedExport.contact_names()``) names senders no message named."""
        self._flush_texts()
        owner = self.owner_id
        owner_bare = bare_id(owner) if owner else None
        resolved = self._resolver(conversations, names or {})
        is_owner = [
            sender == owner or (owner_bare is not None and bare_id(sender) == owner_bare)
            for sender in self._sender_ids
        ]
        contacts = self._contacts(is_owner, resolved)
        owner_count = sum(c for c, mine in zip(self._sender_counts, is_owner, strict=True) if mine)
        days = sorted(self._days.items())
        first_ms = self._first[0] if self._first else None
        last_ms = self._last[0] if self._last else None
        return {
            "schema": "quarry.skype.analysis/1",
            "timezone": "UTC",
            "owner": {
                "id": owner,
                "name": resolved(owner) if owner else None,
                "message_count": owner_count,
            },
            "message_count": self.message_count,
            "conversation_count": len({*self._conv_ids, *(c.id for c in conversations)}),
            "date_range": {"start": _iso(first_ms), "end": _iso(last_ms)},
            "top_contacts": [
                {"name": c["name"], "message_count": c["message_count"], "id": c["id"]}
                for c in contacts[: self._top]
            ],
            "contact_count": len(contacts),
            "contacts": contacts[:500],
            "conversations": self._conversations(conversations, resolved)[:500],
            "messages_per_day": [{"date": _day(d), "count": n} for d, n in days],
            "messages_per_month": _per_month(days),
            "busiest_days": [
                {"date": _day(d), "count": n}
                for d, n in sorted(days, key=lambda item: (-item[1], item[0]))[: self._top]
            ],
            "activity": _activity(days, self.message_count),
            "hour_of_week": {
                "weekdays": list(_WEEKDAYS),
                "counts": [self._hour_of_week[w * 24 : w * 24 + 24] for w in range(7)],
            },
            "hour_of_day": [sum(self._hour_of_week[h::24]) for h in range(24)],
            "weekday": [sum(self._hour_of_week[w * 24 : w * 24 + 24]) for w in range(7)],
            "message_types": {
                "categories": {c: self._categories.get(c, 0) for c in CATEGORIES},
                "raw_types": dict(self._raw_types.most_common()),
            },
            "text": {
                "messages": self._text_messages,
                "with_links": self._with_links,
                "quotes": self._quotes,
                "mentions": self._mentions,
                "with_mentions": self._with_mentions,
            },
            "edits": {"edited_messages": self._edited, "edit_records": self._edit_records},
            "deleted": self._deleted,
            "calls": self._calls_summary(),
            "media": {
                "count": sum(self._media.values()),
                "by_category": dict(self._media),
                "total_bytes": self._media_bytes,
            },
            "system_events": {
                "count": sum(self._system.values()),
                "by_type": dict(self._system.most_common()),
            },
            "response_times": self._response_times(is_owner, contacts, resolved),
            "words": self._top_words(),
            "emoji": {
                "top": [{"emoji": e, "count": n} for e, n in self._emoji.most_common(20)],
                "total": sum(self._emoji.values()),
            },
            "emoticons": {
                "top": [
                    {"type": t, "glyph": _EMOTICON_GLYPHS.get(t), "count": n}
                    for t, n in self._emoticons.most_common(20)
                ],
                "total": sum(self._emoticons.values()),
            },
            "highlights": self._highlights(resolved),
        }

    def _resolver(self, conversations: Sequence[Conversation], names: Mapping[str, str]) -> Any:
        one_to_one = {c.id: c.name for c in conversations if c.kind == "one_to_one"}
        own = self._names

        def resolve(identity: str) -> str:
            return (
                own.get(identity)
                or names.get(identity)
                or one_to_one.get(identity)
                or bare_id(identity)
            )

        return resolve

    def _contacts(self, is_owner: list[bool], resolve: Any) -> list[dict[str, Any]]:
        people = [
            {"id": sender, "name": resolve(sender), "message_count": count}
            for sender, count, mine in zip(
                self._sender_ids, self._sender_counts, is_owner, strict=True
            )
            if not mine and count > 0 and not sender.startswith(("19:", "28:", "48:"))
        ]
        people.sort(key=lambda c: (-c["message_count"], c["name"], c["id"]))
        return people

    def _conversations(
        self, conversations: Sequence[Conversation], resolve: Any
    ) -> list[dict[str, Any]]:
        listed = {c.id: c for c in conversations}
        rows: list[dict[str, Any]] = []
        for ci, conversation_id in enumerate(self._conv_ids):
            known = listed.pop(conversation_id, None)
            rows.append(
                {
                    "id": conversation_id,
                    "name": known.name if known else resolve(conversation_id),
                    "kind": known.kind if known else self._conv_kinds[ci],
                    "participants": len(known.participants) if known else None,
                    "message_count": self._conv_counts[ci],
                    "first_at": _iso(self._conv_first[ci]),
                    "last_at": _iso(self._conv_last[ci]),
                }
            )
        for known in listed.values():
            rows.append(
                {
                    "id": known.id,
                    "name": known.name,
                    "kind": known.kind,
                    "participants": len(known.participants),
                    "message_count": 0,
                    "first_at": None,
                    "last_at": None,
                }
            )
        rows.sort(key=lambda r: (-r["message_count"], r["name"], r["id"]))
        return rows

    def _calls_summary(self) -> dict[str, Any]:
        durations = np.frombuffer(self._durations, dtype=np.float64)
        return {
            "started": self._calls["started"],
            "ended": self._calls["ended"],
            "missed": self._calls["missed"],
            "total_duration_s": round(float(durations.sum()), 2),
            "average_duration_s": round(float(durations.mean()), 2) if durations.size else None,
            "median_duration_s": round(float(np.median(durations)), 2) if durations.size else None,
            "longest_duration_s": round(float(durations.max()), 2) if durations.size else None,
            "call_log_entries": self._call_log_entries,
        }

    def _response_times(
        self, is_owner: list[bool], contacts: list[dict[str, Any]], resolve: Any
    ) -> dict[str, Any]:
        times = np.frombuffer(self._times, dtype=np.int64)
        convs = np.frombuffer(self._convs, dtype=np.int32)
        senders = np.frombuffer(self._senders, dtype=np.int32)
        owner_flags = np.array(is_owner, dtype=bool)
        empty = np.zeros(0, dtype=np.int64)
        if times.size == 0:
            replies, repliers, previous = empty, empty, empty
            first_responses, sessions = empty, 0
        else:
            # 16 bytes a message are kept; what is built here is freed as soon as it is
            # used, so that the peak stays near 20 bytes a message more (at 1M messages
            # a working set of all at once cost 65 MB).
            order = np.lexsort((times, convs))  # stable: file order breaks ties
            t, c, s = times[order], convs[order], senders[order]
            del order
            gaps = np.diff(t)
            in_session = (c[1:] == c[:-1]) & (gaps <= _SESSION_GAP_MS)
            del c
            is_reply = in_session & (s[1:] != s[:-1])
            replies = gaps[is_reply]
            repliers = s[1:][is_reply]
            previous = s[:-1][is_reply]
            del gaps, is_reply
            starts = np.concatenate(([True], ~in_session))
            del in_session
            session_of = np.cumsum(starts, dtype=np.int64) - 1
            start_positions = np.flatnonzero(starts)
            del starts
            sessions = int(start_positions.size)
            other_positions = np.flatnonzero(s != s[start_positions][session_of])
            del s
            # Sessions in order, so the answered ones and their first reply are where the
            # session number changes (np.unique without its sort).
            answered_of = session_of[other_positions]
            del session_of
            changes = np.empty(answered_of.size, dtype=bool)
            changes[:1] = True
            np.not_equal(answered_of[1:], answered_of[:-1], out=changes[1:])
            first_index = np.flatnonzero(changes)
            answered = answered_of[first_index]
            del answered_of, changes
            first_responses = t[other_positions[first_index]] - t[start_positions[answered]]
        mine = owner_flags[repliers] if replies.size else np.zeros(0, dtype=bool)
        by_contact = []
        for contact in contacts[: self._top]:
            si = self._sender_index[contact["id"]]
            theirs = replies[repliers == si]
            yours = replies[mine & (previous == si)]
            by_contact.append(
                {
                    "id": contact["id"],
                    "name": contact["name"],
                    "their_replies": int(theirs.size),
                    "their_median_s": _median_s(theirs),
                    "your_replies": int(yours.size),
                    "your_median_s": _median_s(yours),
                }
            )
        return {
            "session_gap_s": SESSION_GAP_S,
            "replies": int(replies.size),
            "median_s": _median_s(replies),
            "mean_s": _mean_s(replies),
            "owner": {"replies": int(mine.sum()), "median_s": _median_s(replies[mine])},
            "contacts": {
                "replies": int((~mine).sum()),
                "median_s": _median_s(replies[~mine]),
            },
            "first_response": {
                "sessions": sessions,
                "answered": int(first_responses.size),
                "median_s": _median_s(first_responses),
            },
            "by_contact": by_contact,
        }

    def _folded_words(self) -> Counter[str]:
        """Raw tokens folded into words: punctuation around stripped, links, numbers and
        symbols left out."""
        words: Counter[str] = Counter()
        for token, count in self._words.items():
            if "://" in token:
                continue
            word = token.strip(_PUNCTUATION)
            if not word.isalpha():
                if not any(mark in word for mark in _APOSTROPHES):
                    continue
                bare = word.replace("'", "").replace("\u2019", "")
                if not bare.isalpha():
                    continue
            words[word] += count
        return words

    def _top_words(self) -> dict[str, Any]:
        words = self._folded_words()
        top = []
        for word, count in words.most_common():
            if len(word) < 2 or word in STOPWORDS:
                continue
            top.append({"word": word, "count": count})
            if len(top) >= 50:
                break
        return {
            "top": top,
            "total": sum(words.values()),
            "distinct": len(words),
            "exact": self._words_exact,
        }

    def _highlights(self, resolve: Any) -> dict[str, Any]:
        def describe(message: SkypeMessage | None) -> dict[str, Any] | None:
            if message is None:
                return None
            text = message.text
            return {
                "sender": resolve(message.sender_id),
                "conversation_id": message.conversation_id,
                "sent_at": _iso(round(message.sent_at.timestamp() * 1000)),
                "category": message.category,
                "text": text[:_HIGHLIGHT_CHARS] + ("…" if len(text) > _HIGHLIGHT_CHARS else ""),
            }

        return {
            "first_message": describe(self._first[1] if self._first else None),
            "last_message": describe(self._last[1] if self._last else None),
            "longest_message": describe(self._longest[2] if self._longest else None),
        }


def _per_month(days: list[tuple[int, int]]) -> list[dict[str, Any]]:
    months: Counter[str] = Counter()
    for day, count in days:
        months[_day(day)[:7]] += count
    return [{"month": m, "count": n} for m, n in sorted(months.items())]


def _activity(days: list[tuple[int, int]], total: int) -> dict[str, Any]:
    """Active days, average per active day, the longest streak and the longest break."""
    if not days:
        return {
            "active_days": 0,
            "average_per_active_day": None,
            "longest_streak": None,
            "longest_break": None,
        }
    streak = (1, days[0][0], days[0][0])
    gap: tuple[int, int, int] | None = None
    run_start = days[0][0]
    previous = days[0][0]
    for day, _ in days[1:]:
        if day == previous + 1:
            if day - run_start + 1 > streak[0]:
                streak = (day - run_start + 1, run_start, day)
        else:
            run_start = day
            silent = day - previous - 1
            if gap is None or silent > gap[0]:
                gap = (silent, previous + 1, day - 1)
        previous = day
    return {
        "active_days": len(days),
        "average_per_active_day": round(total / len(days), 2),
        "longest_streak": {"days": streak[0], "from": _day(streak[1]), "to": _day(streak[2])},
        "longest_break": (
            {"days": gap[0], "from": _day(gap[1]), "to": _day(gap[2])} if gap else None
        ),
    }
