"""MessageList items turned into ``SkypeMessage`` records.

Two entry points with one meaning: ``wire()`` for a batch of typed ``WireMessage``
structs (nearly every message), ``raw()`` for a batch of generic JSON values (pieces the
typed decode refused: odd types, lone surrogates, items too large for it). Both end in
``_message()``, which holds the rules. ``wire()`` first takes the common case in bulk --
text without markup or properties -- with C-level operations over the batch's columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from services.ingest.worker.skype import markup
from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.records import (
    CallEvent,
    Category,
    ConversationKind,
    SkypeMessage,
)
from services.ingest.worker.skype.wire import WireMessage

CATEGORIES: dict[str, Category] = {
    "RichText": "text",
    "Text": "text",
    "RichText/Html": "text",
    "RichText/Sms": "text",
    "Translation": "text",
    "RichText/UriObject": "media",
    "RichText/Media_Video": "media",
    "RichText/Media_AudioMsg": "media",
    "RichText/Media_Album": "media",
    "RichText/Media_Card": "media",
    "RichText/Media_FlikMsg": "media",
    "RichText/Media_CallRecording": "media",
    "RichText/Media_GenericFile": "file",
    "Event/Call": "call",
    "RichText/ScheduledCallInvite": "call",
    "RichText/Contacts": "contact",
    "RichText/Location": "location",
    "Poll": "poll",
    "Notice": "system",
    "PopCard": "system",
    "InviteFreeRelationshipChanged/Initialized": "system",
    "EndToEndEncryption/EncryptedText": "other",
}
_STRUCTURED_MAX = 256 * 1024
"""Structured markup (calls, files, contacts, ...) longer than this is only tag-stripped."""

_CALL_STATES: dict[str, CallEvent] = {
    "accepted": "ended",
    "missed": "missed",
    "declined": "missed",
}
_PLAIN_TEXT_TYPES = frozenset(name for name, category in CATEGORIES.items() if category == "text")
_fromisoformat = datetime.fromisoformat
_new = tuple.__new__  # SkypeMessage without its Python-level __new__ (hot path)


def conversation_kind(conversation_id: str) -> ConversationKind:
    """``19:`` group, ``28:`` bot, ``48:`` special list (call logs); anything else is 1:1
    (``8:`` and, since 2023, other numeric prefixes)."""
    if conversation_id.startswith("19:"):
        return "group"
    if conversation_id.startswith("28:"):
        return "bot"
    if conversation_id.startswith("48:"):
        return "special"
    return "one_to_one"


def parse_time(value: object) -> datetime | None:
    """``2020-07-06T17:20:30.609Z`` (or without fraction, or naive = UTC) as aware UTC."""
    if type(value) is not str or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC) if parsed.utcoffset() else parsed


def parse_epoch_ms(value: object) -> datetime | None:
    """``"1594056032374"`` (epoch milliseconds, as a string or a number) as aware UTC."""
    try:
        millis = int(value) if type(value) is str else value
        if type(millis) not in (int, float):
            return None
        return datetime.fromtimestamp(millis / 1000, UTC)  # type: ignore[operator]
    except (ValueError, OverflowError, OSError):
        return None


class ConversationState:
    """What the parser knows of the conversation being read."""

    __slots__ = ("display_name", "id", "kind", "members", "message_count", "senders", "topic")

    def __init__(self) -> None:
        self.id: str | None = None
        self.kind: ConversationKind = "one_to_one"
        self.display_name: str | None = None
        self.topic: str | None = None
        self.members: list[str] = []
        self.senders: dict[str, None] = {}
        self.message_count = 0


class MessageConverter:
    """Turns items into messages; keeps the names the export reveals, the skipped counts
    and the message total (bounded by ``max_messages``)."""

    def __init__(self, max_messages: int) -> None:
        self.names: dict[str, str] = {}
        self.skipped: dict[str, int] = {}
        self.total = 0
        self._max_messages = max_messages

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _count(self, state: ConversationState, count: int) -> None:
        self.total += count
        if self.total > self._max_messages:
            raise InvalidExport(f"The export has more than {self._max_messages} messages.")
        state.message_count += count

    # -- typed items (the common case) ----------------------------------------------------

    def wire(self, batch: list[WireMessage], state: ConversationState) -> list[SkypeMessage]:
        """The hot loop: names bound to locals, the message total counted once per batch
        (checked before any message of the batch is handed on), plain text (no markup,
        no properties) built here, everything else through ``_message``."""
        out: list[SkypeMessage] = []
        append = out.append
        names = self.names
        senders = state.senders
        state_id = state.id
        plain_types = _PLAIN_TEXT_TYPES
        fromisoformat = _fromisoformat
        utc = UTC
        new = _new
        cls = SkypeMessage
        unescape = markup.unescape
        message = self._message
        counted = 0
        for item in batch:
            try:
                sent_at = fromisoformat(item.originalarrivaltime)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                self._skip("without a readable time")
                continue
            zone = sent_at.tzinfo
            if zone is not utc:  # "...Z" parses to UTC itself; others are made UTC
                sent_at = sent_at.replace(tzinfo=utc) if zone is None else sent_at.astimezone(utc)
            sender = item.sender
            if not sender:
                self._skip("without a sender")
                continue
            message_id = item.id
            if message_id is None:
                self._skip("without an id")
                continue
            counted += 1
            content = item.content or ""
            raw_type = item.messagetype or ""
            conversation_id = state_id or item.conversationid or "unknown"
            sender_name = item.displayName
            if sender_name:
                if sender not in names:
                    names[sender] = sender_name
            else:
                sender_name = names.get(sender)
            properties = item.properties
            if properties is None:
                if raw_type in plain_types and "<" not in content:
                    senders[sender] = None
                    if "&" in content and raw_type != "Text":
                        content = unescape(content)
                    append(new(cls, (
                        conversation_id, message_id, sender, sender_name, sent_at, raw_type,
                        "text", content.strip(), None, False, None, None, None, None, None, (),
                        None, (),
                    )))  # fmt: skip
                    continue
                append(
                    message(
                        state, conversation_id, message_id, sender, sender_name, sent_at,
                        raw_type, content, None, False, None,
                    )
                )  # fmt: skip
                continue
            edited_at = None
            if properties.edittime is not None:
                edited_at = parse_epoch_ms(properties.edittime)
            deleted = bool(properties.deletetime)
            if deleted:
                content = ""
            append(
                message(
                    state, conversation_id, message_id, sender, sender_name, sent_at,
                    raw_type, content, edited_at, deleted, properties.call_log,
                )
            )  # fmt: skip
        if counted:
            self._count(state, counted)
        return out

    # -- generic items (anything else) ----------------------------------------------------

    def raw(self, batch: list[Any], state: ConversationState) -> list[SkypeMessage]:
        out = []
        for item in batch:
            message = self._raw_one(item, state)
            if message is not None:
                out.append(message)
        return out

    def _raw_one(self, raw: object, state: ConversationState) -> SkypeMessage | None:
        """One MessageList item as a SkypeMessage (None, counted in ``skipped``, when it
        lacks a time, a sender or an id)."""
        if type(raw) is not dict:
            raise InvalidExport("A message in the export is not a JSON object.")
        get = raw.get
        arrival = get("originalarrivaltime")
        try:
            sent_at = _fromisoformat(arrival)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self._skip("without a readable time")
            return None
        zone = sent_at.tzinfo
        if zone is not UTC:
            sent_at = sent_at.replace(tzinfo=UTC) if zone is None else sent_at.astimezone(UTC)
        sender = get("from")
        if type(sender) is not str or not sender:
            self._skip("without a sender")
            return None
        message_id = get("id")
        if type(message_id) is not str:
            if type(message_id) not in (int, float):
                self._skip("without an id")
                return None
            message_id = str(message_id)
        content = get("content")
        if type(content) is not str:
            if content is not None:
                self._skip("whose content is not text")
                return None
            content = ""
        raw_type = get("messagetype")
        if type(raw_type) is not str:
            raw_type = ""
        conversation_id = state.id
        if conversation_id is None:
            declared = get("conversationid")
            conversation_id = declared if type(declared) is str and declared else "unknown"
        self._count(state, 1)
        names = self.names
        sender_name = get("displayName")
        if type(sender_name) is str and sender_name:
            if sender not in names:
                names[sender] = sender_name
        else:
            sender_name = names.get(sender)
        properties = get("properties")
        edited_at = None
        deleted = False
        call_log = None
        if type(properties) is dict:
            if "edittime" in properties:
                edited_at = parse_epoch_ms(properties["edittime"])
            if properties.get("deletetime"):
                deleted = True
                content = ""
            call_log = properties.get("call-log")
        return self._message(
            state, conversation_id, message_id, sender, sender_name, sent_at, raw_type,
            content, edited_at, deleted, call_log,
        )  # fmt: skip

    # -- the rules --------------------------------------------------------------------------

    def _message(
        self,
        state: ConversationState,
        conversation_id: str,
        message_id: str,
        sender: str,
        sender_name: str | None,
        sent_at: datetime,
        raw_type: str,
        content: str,
        edited_at: datetime | None,
        deleted: bool,
        call_log: object,
    ) -> SkypeMessage:
        category = CATEGORIES.get(raw_type)
        if category is None:
            category = "system" if raw_type.startswith("ThreadActivity/") else "other"
        if category == "text" or not content or type(call_log) is str:
            state.senders[sender] = None  # (structured messages: once their author is known)
        if type(call_log) is str:
            entry = SkypeMessage(
                conversation_id, message_id, sender, sender_name, sent_at, raw_type, "call", "",
                edited_at, deleted,
            )  # fmt: skip
            return self._call_log_entry(entry, call_log)
        names = self.names
        if category == "text":
            if raw_type == "Text" or "<" not in content:
                text = content if raw_type == "Text" else markup.unescape(content)
                return _new(SkypeMessage, (
                    conversation_id, message_id, sender, sender_name, sent_at, raw_type,
                    category, text.strip(), edited_at, deleted, None, None, None, None, None,
                    (), None, (),
                ))  # fmt: skip
            rich = markup.parse_rich_text(content)
            for identity, name in rich.names:
                names.setdefault(identity, name)
            if sender_name is None:
                sender_name = names.get(sender)
            if rich.edit_of is not None:
                edited_at = sent_at
                deleted = deleted or not rich.text
            return _new(SkypeMessage, (
                conversation_id, message_id, sender, sender_name, sent_at, raw_type, category,
                rich.text, edited_at, deleted, None, None, None, None, rich.quote_of,
                rich.mentions, rich.edit_of, rich.emoticons,
            ))  # fmt: skip
        if not content:
            return _new(SkypeMessage, (
                conversation_id, message_id, sender, sender_name, sent_at, raw_type, category,
                "", edited_at, deleted, None, None, None, None, None, (), None, (),
            ))  # fmt: skip
        author, text, call_event, duration, media_name, media_size = self._structured(
            sender, raw_type, category, content
        )
        state.senders[author] = None
        if author != sender:  # a thread event, now its initiator's
            sender_name = names.get(author)
        elif sender_name is None:
            sender_name = names.get(sender)
        return _new(SkypeMessage, (
            conversation_id, message_id, author, sender_name, sent_at, raw_type, category, text,
            edited_at, deleted, duration, call_event, media_name, media_size, None, (), None, (),
        ))  # fmt: skip

    def _structured(
        self, sender: str, raw_type: str, category: Category, content: str
    ) -> tuple[str, str, CallEvent | None, float | None, str | None, int | None]:
        """Calls, media and files, contacts, locations, polls, thread events, others:
        (sender, text, call event, call duration, media name, media size)."""
        if len(content) > _STRUCTURED_MAX:
            return sender, markup.strip_tags(content), None, None, None, None
        if category == "call":
            if raw_type != "Event/Call":
                return sender, markup.strip_tags(content), None, None, None, None
            call = markup.parse_call(content)
            for identity, name in call.parts:
                self.names.setdefault(identity, name)
            return sender, "", call.event, call.duration_s, None, None
        if category in ("media", "file", "poll"):
            media = markup.parse_media(content)
            if category == "poll":
                text = media.title or markup.strip_tags(content)
            else:
                text = media.name or ""
            return sender, text, None, None, media.name, media.size
        if category == "contact":
            cards = markup.parse_contacts(content)
            for contact, name in cards:
                if contact and name:
                    self.names.setdefault(contact, name)
            text = ", ".join(name or contact for contact, name in cards)
            return sender, text, None, None, None, None
        if category == "location":
            return sender, markup.parse_location(content), None, None, None, None
        if category == "system" and raw_type.startswith("ThreadActivity/"):
            event = markup.parse_thread_event(content)
            text = _describe_thread_event(raw_type, event)
            return event.initiator or sender, text, None, None, None, None
        if raw_type == "EndToEndEncryption/EncryptedText":
            return sender, "", None, None, None, None
        return sender, markup.strip_tags(content), None, None, None, None

    def _call_log_entry(self, message: SkypeMessage, call_log: str) -> SkypeMessage:
        """A ``48:calllogs`` entry: ``properties["call-log"]`` is a JSON string with
        ``callState`` (accepted/missed/declined) and start/connect/end times."""
        try:
            log = orjson.loads(call_log)
        except orjson.JSONDecodeError:
            return message
        if type(log) is not dict:
            return message
        state = log.get("callState")
        event = _CALL_STATES.get(state) if type(state) is str else None
        duration = None
        connected = parse_time(log.get("connectTime"))
        ended = parse_time(log.get("endTime"))
        if event == "ended" and connected is not None and ended is not None:
            seconds = (ended - connected).total_seconds()
            duration = seconds if seconds >= 0 else None
        for key in ("originatorParticipant", "targetParticipant"):
            participant = log.get(key)
            if type(participant) is dict:
                identity, name = participant.get("id"), participant.get("displayName")
                if type(identity) is str and type(name) is str and identity and name:
                    self.names.setdefault(identity, name)
        return message._replace(call_event=event, call_duration_s=duration)


def _describe_thread_event(raw_type: str, event: markup.ThreadEvent) -> str:
    kind = raw_type.partition("/")[2]
    targets = ", ".join(event.targets)
    if kind == "TopicUpdate":
        return f"Topic: {event.value}" if event.value else "Topic removed"
    if kind == "AddMember":
        return f"Added {targets}" if targets else "Added a member"
    if kind == "DeleteMember":
        if targets and event.initiator and event.targets == (event.initiator,):
            return "Left the conversation"
        return f"Removed {targets}" if targets else "Removed a member"
    if kind == "PictureUpdate":
        return "Changed the picture"
    if kind == "RoleUpdate":
        return "; ".join(f"{member} is now {role}" for member, role in event.roles) or (
            "Changed a role"
        )
    if event.value is not None:
        return f"{kind}: {event.value}"
    return kind or raw_type
