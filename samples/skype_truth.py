"""The ground truth of a generated Skype export, accumulated while it is written.

Computed here independently of the analytics (this package imports no service), from
what the generator put in, with the definitions the analytics documents
(services/ingest/worker/skype/analytics.py):

- every message counts in ``message_count``, per day, per hour of week, per conversation;
- contacts are people (not the owner, not ``19:``/``28:``/``48:`` ids); their (and the
  owner's) ``message_count`` is the messages they sent, thread events (category
  ``system``) excluded;
- response times: in 1:1 and group conversations, over messages a person wrote
  (categories text, media, file, contact, location, poll; old-style edit records
  excluded), in time order. A gap of more than ``SESSION_GAP_S`` starts a session; a
  message from another sender than the previous one, within the session, is a reply
  (its gap is the response time, attributed to the replier: owner or contact); a
  session's first response is the time from its first message to the first message
  by someone else;
- calls are ``Event/Call`` messages outside ``48:`` lists; durations are of ended calls.
"""

from __future__ import annotations

import statistics
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SESSION_GAP_S = 6 * 3600
RESPONSE_CATEGORIES = frozenset({"text", "media", "file", "contact", "location", "poll"})


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def is_person(identity: str, owner: str) -> bool:
    return identity != owner and not identity.startswith(("19:", "28:", "48:"))


def _median_s(values: array[int]) -> float | None:
    return statistics.median(values) / 1000 if values else None


@dataclass
class GroundTruth:
    """What the generator wrote; ``to_dict()`` is JSON."""

    user_id: str
    export_date: str
    bare: bool
    message_count: int = 0
    conversation_count: int = 0
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    owner_message_count: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    raw_types: Counter[str] = field(default_factory=Counter)
    per_day: Counter[str] = field(default_factory=Counter)
    hour_of_week: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    first_ms: int | None = None
    last_ms: int | None = None
    calls: dict[str, Any] = field(default_factory=dict)
    edited: int = 0
    edit_records: int = 0
    deleted: int = 0
    quotes: int = 0
    mentions: int = 0
    links: int = 0
    media: dict[str, Any] = field(default_factory=dict)
    system_events: Counter[str] = field(default_factory=Counter)
    planted_words: Counter[str] = field(default_factory=Counter)
    emoji: Counter[str] = field(default_factory=Counter)
    emoticons: Counter[str] = field(default_factory=Counter)
    response_times: dict[str, Any] = field(default_factory=dict)
    hostile_strings: list[str] = field(default_factory=list)
    media_files: int = 0

    def top_contacts(self, limit: int = 10) -> list[dict[str, Any]]:
        ranked = sorted(self.contacts.values(), key=lambda c: (-c["message_count"], c["name"]))
        return [
            {"id": c["id"], "name": c["name"], "message_count": c["message_count"]}
            for c in ranked[:limit]
            if c["message_count"] > 0
        ]

    def busiest_days(self, limit: int = 10) -> list[dict[str, Any]]:
        ranked = sorted(self.per_day.items(), key=lambda item: (-item[1], item[0]))
        return [{"date": day, "count": count} for day, count in ranked[:limit]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "export_date": self.export_date,
            "bare": self.bare,
            "message_count": self.message_count,
            "conversation_count": self.conversation_count,
            "date_range": {
                "start": iso(self.first_ms) if self.first_ms is not None else None,
                "end": iso(self.last_ms) if self.last_ms is not None else None,
            },
            "top_contacts": self.top_contacts(),
            "conversations": self.conversations,
            "contacts": self.contacts,
            "owner_message_count": self.owner_message_count,
            "categories": dict(self.categories),
            "raw_types": dict(self.raw_types),
            "messages_per_day": dict(sorted(self.per_day.items())),
            "busiest_days": self.busiest_days(),
            "hour_of_week": self.hour_of_week,
            "calls": self.calls,
            "edited": self.edited,
            "edit_records": self.edit_records,
            "deleted": self.deleted,
            "quotes": self.quotes,
            "mentions": self.mentions,
            "links": self.links,
            "media": self.media,
            "system_events": dict(self.system_events),
            "planted_words": dict(self.planted_words),
            "emoji": dict(self.emoji),
            "emoticons": dict(self.emoticons),
            "response_times": self.response_times,
            "hostile_strings": self.hostile_strings,
            "media_files": self.media_files,
        }


class TruthRecorder:
    """Fed by the generator: conversations, then each one's messages in time order."""

    def __init__(self, user_id: str, export_date: str, *, bare: bool) -> None:
        self.truth = GroundTruth(user_id=user_id, export_date=export_date, bare=bare)
        self._owner = user_id
        self._replies_owner: array[int] = array("q")
        self._replies_contacts: array[int] = array("q")
        self._first_responses: array[int] = array("q")
        self._sessions = 0
        self._durations: list[float] = []
        self._calls = Counter[str]()
        self._call_log_entries = 0
        self._media_bytes = 0
        self._media_count = Counter[str]()
        self._conversation: str | None = None
        self._kind = ""
        self._last: tuple[str, int] | None = None
        self._session_start: tuple[str, int] | None = None
        self._waiting_first_response = False

    def conversation(self, identity: str, name: str, kind: str, participants: list[str]) -> None:
        truth = self.truth
        truth.conversation_count += 1
        truth.conversations[identity] = {
            "name": name,
            "kind": kind,
            "message_count": 0,
            "participants": participants,
        }
        self._conversation, self._kind = identity, kind
        self._last = None
        self._session_start = None
        self._waiting_first_response = False

    def contact(self, identity: str, name: str) -> None:
        if is_person(identity, self._owner):
            self.truth.contacts.setdefault(
                identity, {"id": identity, "name": name, "message_count": 0}
            )

    def message(
        self,
        *,
        sender: str,
        ms: int,
        raw_type: str,
        category: str,
        clean_text: str | None = None,
        deleted: bool = False,
        edited: bool = False,
        edit_record: bool = False,
        call_event: str | None = None,
        duration_s: float | None = None,
        media_size: int | None = None,
        quote: bool = False,
        mentions: int = 0,
        links: int = 0,
        emoji: list[str] | None = None,
        emoticons: list[str] | None = None,
    ) -> None:
        truth = self.truth
        assert self._conversation is not None
        truth.message_count += 1
        truth.conversations[self._conversation]["message_count"] += 1
        truth.categories[category] += 1
        truth.raw_types[raw_type] += 1
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        truth.per_day[moment.date().isoformat()] += 1
        truth.hour_of_week[moment.weekday()][moment.hour] += 1
        truth.first_ms = ms if truth.first_ms is None else min(truth.first_ms, ms)
        truth.last_ms = ms if truth.last_ms is None else max(truth.last_ms, ms)
        if category == "system":
            pass  # thread events are nobody's messages
        elif sender == self._owner:
            truth.owner_message_count += 1
        elif is_person(sender, self._owner):
            truth.contacts[sender]["message_count"] += 1
        truth.deleted += deleted
        truth.edited += edited and not edit_record
        truth.edit_records += edit_record
        truth.quotes += quote
        truth.mentions += mentions
        if category == "text" and not deleted:
            truth.links += links > 0
            if clean_text:
                words = clean_text.lower().split()
                for word in words:
                    if word in ("quarry", "basalt", "obsidian"):
                        truth.planted_words[word] += 1
        for item in emoji or ():
            truth.emoji[item] += 1
        for item in emoticons or ():
            truth.emoticons[item] += 1
        if category in ("media", "file"):
            self._media_count[category] += 1
            self._media_bytes += media_size or 0
        if category == "system":
            truth.system_events[raw_type.partition("/")[2] or raw_type] += 1
        if self._kind == "special":
            if category == "call":
                self._call_log_entries += 1
        elif raw_type == "Event/Call" and call_event:
            self._calls[call_event] += 1
            if duration_s is not None:
                self._durations.append(duration_s)
        if (
            self._kind in ("one_to_one", "group")
            and category in RESPONSE_CATEGORIES
            and not edit_record
        ):
            self._response(sender, ms)

    def _response(self, sender: str, ms: int) -> None:
        last = self._last
        if last is None or ms - last[1] > SESSION_GAP_S * 1000:
            self._session_start = (sender, ms)
            self._waiting_first_response = True
            self._sessions += 1
        else:
            if sender != last[0]:
                gap = ms - last[1]
                (self._replies_owner if sender == self._owner else self._replies_contacts).append(
                    gap
                )
            start = self._session_start
            if self._waiting_first_response and start is not None and sender != start[0]:
                self._first_responses.append(ms - start[1])
                self._waiting_first_response = False
        self._last = (sender, ms)

    def finish(self) -> GroundTruth:
        truth = self.truth
        durations = self._durations
        truth.calls = {
            "started": self._calls["started"],
            "ended": self._calls["ended"],
            "missed": self._calls["missed"],
            "total_duration_s": round(sum(durations), 2),
            "median_duration_s": statistics.median(durations) if durations else None,
            "longest_duration_s": max(durations) if durations else None,
            "call_log_entries": self._call_log_entries,
        }
        truth.media = {
            "count": sum(self._media_count.values()),
            "by_category": dict(self._media_count),
            "total_bytes": self._media_bytes,
        }
        everyone = self._replies_owner + self._replies_contacts
        truth.response_times = {
            "session_gap_s": SESSION_GAP_S,
            "replies": len(everyone),
            "median_s": _median_s(everyone),
            "owner": {
                "replies": len(self._replies_owner),
                "median_s": _median_s(self._replies_owner),
            },
            "contacts": {
                "replies": len(self._replies_contacts),
                "median_s": _median_s(self._replies_contacts),
            },
            "first_response": {
                "sessions": self._sessions,
                "answered": len(self._first_responses),
                "median_s": _median_s(self._first_responses),
            },
        }
        return truth
