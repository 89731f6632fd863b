"""Streaming parse of a Skype ``messages.json``: message by message, memory flat.

How it streams. ijson's C backend (yajl) builds Python objects fast, but only hands over
an item once it is complete, and a conversation (``conversations.item``) can hold a
million messages. So the parser pushes bytes into ijson's coroutine interface building
the *whole document* from the root, keeps a reference to the root object while it grows
(the first mapping the builder asks for is ours), and after every piece of input takes the
completed conversations and messages out of the live lists, deleting them there. What
stays in memory is the conversation header being read, at most one message in progress
and the messages of one piece of input (a few hundred).

Guards, all checked before or between pieces of input, never after the fact:

- depth: ijson's prefix bookkeeping is quadratic in nesting depth (16k levels cost 600 MB
  here), so a piece fed to it never holds more opening brackets than the depth still
  allowed; the depth in force is measured on the objects being built.
- size of one item: if the position in the document (conversation, message) stops
  moving for ``max_item_bytes`` of input, one message, header or string is too large
  (a 200 MB string is refused after 4 MB, before yajl buffers the rest).
- items per container, conversations, members, messages: counted as they grow.
- invalid UTF-8, truncation, trailing data: yajl's errors, turned into sentences.

MessageList order is not relied on: messages are yielded in file order with their own
timestamps; whoever needs time order sorts (the analytics does).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import greenlet
import ijson
import numpy as np
import orjson

from services.ingest.worker.skype import markup
from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.limits import ParseLimits
from services.ingest.worker.skype.records import (
    CallEvent,
    Category,
    Conversation,
    ConversationKind,
    ExportHeader,
    SkypeMessage,
)
from services.ingest.worker.skype.streams import ByteSource

_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"

_CATEGORIES: dict[str, Category] = {
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


def bare_id(identity: str) -> str:
    """``live:.cid.abc`` from ``8:live:.cid.abc`` (the numeric prefix dropped)."""
    head, sep, rest = identity.partition(":")
    return rest if sep and head.isdigit() and rest else identity


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


class _ConversationState:
    __slots__ = (
        "display_name",
        "id",
        "kind",
        "members",
        "message_count",
        "raw",
        "senders",
        "topic",
    )

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.id: str | None = None
        self.kind: ConversationKind = "one_to_one"
        self.display_name: str | None = None
        self.topic: str | None = None
        self.members: list[str] = []
        self.senders: dict[str, None] = {}
        self.message_count = 0


class ParsedExport:
    """The result of ``parse_export``: iterate ``messages()`` once, then read
    ``conversations()``. ``header`` is filled as soon as ``userId``/``exportDate`` are
    read (Skype writes them first). ``bytes_read`` counts the bytes of messages.json
    consumed (for progress); ``skipped`` counts messages left out, by reason (a message
    without a sender, an id or a readable time)."""

    def __init__(self, stream: ByteSource, limits: ParseLimits) -> None:
        self._stream = stream
        self._limits = limits
        self.header = ExportHeader()
        self.bytes_read = 0
        self.skipped: dict[str, int] = {}
        self._root: dict[str, Any] = {}
        self._conversations: list[Conversation] = []
        self._current: _ConversationState | None = None
        self._names: dict[str, str] = {}
        self._message_total = 0
        self._conversation_total = 0
        self._started = False
        self._finished = False
        self._owner_bare: str | None = None

    # -- public -------------------------------------------------------------------------

    def messages(self) -> Iterator[SkypeMessage]:
        """Every message in file order; raises ``InvalidExport`` on bad input."""
        if self._started:
            raise RuntimeError("ParsedExport.messages() can be iterated only once")
        self._started = True
        feeder = _Feeder(self)
        parsing = greenlet.greenlet(feeder.run)
        try:
            while True:
                batch = parsing.switch()
                if batch is None:
                    break
                yield from batch
        except InvalidExport:
            raise
        except RecursionError as exc:
            raise InvalidExport("The JSON is nested too deeply to be a Skype export.") from exc
        except MemoryError as exc:  # pragma: no cover - guarded by the limits above
            raise InvalidExport("The export is too large to read.") from exc
        finally:
            if not parsing.dead:
                # The consumer stopped early: unwind the tokenizer (GreenletExit in read()).
                parsing.throw()
        self._finished = True

    def conversations(self) -> list[Conversation]:
        """Every conversation with its final name, participants and message count."""
        if not self._finished:
            raise RuntimeError("conversations() is complete only after messages() is exhausted")
        return list(self._conversations)

    def contact_names(self) -> dict[str, str]:
        """Display names this export revealed, by sender id (message ``displayName``, 1:1
        conversation names, call participants, mentions, quote authors)."""
        return dict(self._names)

    # -- feeding (see _Feeder) ----------------------------------------------------------

    def _check_start(self, chunk: bytes) -> bytes:
        if chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]
        stripped = chunk.lstrip(_WHITESPACE)
        if stripped[:1] == b"{":
            return chunk
        if not stripped:
            # Whitespace only so far: let the tokenizer see it; the root check repeats below.
            return chunk
        if stripped[:1] == b"[":
            raise InvalidExport(
                "The JSON is a list, not a Skype export (an object with userId and conversations)."
            )
        if stripped[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in stripped[:4]:
            raise InvalidExport("The file is UTF-16 or UTF-32 text; Skype exports are UTF-8 JSON.")
        raise InvalidExport("The file is not a JSON object, so it is not a Skype messages.json.")

    def _depth(self) -> int:
        """The depth of the document being built, and the size guard on what is being built.

        Lists only grow at their end, so of a list only the last item can be in progress;
        a dict grows at any key (a duplicate key keeps its old position), so every
        container in a dict is visited. That is a handful of nodes for a real export (the
        root, the current conversation and message); the exceptions are the two lists the
        parser drains as they grow (``conversations`` and the current ``MessageList``).
        """
        limits = self._limits
        max_items = limits.max_container_items
        max_depth = limits.max_depth
        root = self._root
        drained: tuple[object, ...] = (root.get("conversations"),)
        if self._current is not None:
            drained += (self._current.raw.get("MessageList"),)
        deepest = 1
        stack: list[tuple[Any, int]] = [(root, 1)]
        pop, push = stack.pop, stack.append
        while stack:
            node, depth = pop()
            if depth > deepest:
                deepest = depth
                if depth > max_depth:
                    raise InvalidExport(
                        f"The JSON is nested more than {max_depth} levels deep; "
                        "a Skype export is not."
                    )
            if type(node) is dict:
                if len(node) > max_items and node is not root:
                    raise InvalidExport(
                        f"An object in the export has more than {max_items} fields; "
                        "a Skype export has none like it."
                    )
                for child in node.values():
                    kind = type(child)
                    if (kind is dict or kind is list) and child:
                        push((child, depth + 1))
            else:  # a non-empty list
                if len(node) > max_items and not any(node is d for d in drained):
                    raise InvalidExport(
                        f"A list in the export has more than {max_items} items; "
                        "a Skype export has none like it."
                    )
                child = node[-1]
                kind = type(child)
                if (kind is dict or kind is list) and child:
                    push((child, depth + 1))
        return deepest

    # -- structure ----------------------------------------------------------------------

    def _drain(self, *, final: bool) -> list[SkypeMessage]:
        """The messages completed since the last call; finished conversations recorded."""
        out: list[SkypeMessage] = []
        root = self._root
        self._read_header()
        conversations = root.get("conversations")
        if conversations is None:
            return out
        if type(conversations) is not list:
            raise InvalidExport(
                "The export's 'conversations' is not a list; this is not a Skype export."
            )
        while len(conversations) > (0 if final else 1):
            self._messages_of(conversations[0], out, final=True)
            self._finish_conversation()
            del conversations[0]
        if conversations:
            self._messages_of(conversations[-1], out, final=final)
        return out

    def _read_header(self) -> None:
        root = self._root
        header = self.header
        if header.user_id is None:
            user_id = root.get("userId")
            if type(user_id) is str and user_id:
                header.user_id = user_id
                self._owner_bare = bare_id(user_id)
        if header.export_date is None:
            header.export_date = parse_time(root.get("exportDate"))

    def _state_for(self, raw: object) -> _ConversationState:
        current = self._current
        if current is not None and current.raw is raw:
            return current
        if type(raw) is not dict:
            raise InvalidExport("A conversation in the export is not a JSON object.")
        self._conversation_total += 1
        if self._conversation_total > self._limits.max_conversations:
            raise InvalidExport(
                f"The export has more than {self._limits.max_conversations} conversations."
            )
        current = _ConversationState(raw)
        self._current = current
        return current

    def _update_header(self, state: _ConversationState) -> None:
        raw = state.raw
        if state.id is None:
            conversation_id = raw.get("id")
            if type(conversation_id) is str and conversation_id:
                state.id = conversation_id
                state.kind = conversation_kind(conversation_id)
        if state.display_name is None:
            name = raw.get("displayName")
            if type(name) is str and name.strip():
                state.display_name = name.strip()
                if state.kind == "one_to_one" and state.id is not None:
                    self._names.setdefault(state.id, state.display_name)

    def _messages_of(self, raw: object, out: list[SkypeMessage], *, final: bool) -> None:
        state = self._state_for(raw)
        self._update_header(state)
        message_list = state.raw.get("MessageList")
        if message_list is None:
            return
        if type(message_list) is not list:
            raise InvalidExport("A conversation's 'MessageList' is not a list.")
        if not final:
            if len(message_list) < 2:
                return
            batch = message_list[:-1]
            del message_list[:-1]
        else:
            batch = message_list[:]
            message_list.clear()
        convert = self._convert
        append = out.append
        for item in batch:
            message = convert(item, state)
            if message is not None:
                append(message)

    def _finish_conversation(self) -> None:
        state = self._current
        if state is None:
            return
        self._update_header(state)
        raw = state.raw
        thread = raw.get("threadProperties")
        if type(thread) is dict:
            topic = thread.get("topic")
            if type(topic) is str and topic.strip():
                state.topic = markup.strip_tags(topic) or None
            state.members = self._members(thread.get("members"))
        if state.id is None:
            raise InvalidExport("A conversation in the export has no 'id'.")
        owner = self.header.user_id
        participants: dict[str, None] = {}
        if state.kind == "one_to_one":
            if owner:
                participants[owner] = None
            participants[state.id] = None
        for member in state.members:
            participants[member] = None
        for sender in state.senders:
            participants.setdefault(sender, None)
        self._conversations.append(
            Conversation(
                id=state.id,
                name=self._conversation_name(state, participants),
                kind=state.kind,
                participants=tuple(participants),
                message_count=state.message_count,
            )
        )
        self._current = None

    def _members(self, value: object) -> list[str]:
        """``threadProperties.members``: a JSON *string* holding a list of ids."""
        if type(value) is str:
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                return []
        if type(value) is not list:
            return []
        if len(value) > self._limits.max_members:
            raise InvalidExport(
                f"A conversation lists more than {self._limits.max_members} members."
            )
        members = []
        for member in value:
            if type(member) is dict:  # {"MemberMri": ...} in some versions
                member = member.get("MemberMri") or member.get("id")
            if type(member) is str and member:
                members.append(member)
        return members

    def _conversation_name(self, state: _ConversationState, participants: dict[str, None]) -> str:
        if state.display_name:
            return state.display_name
        if state.topic:
            return state.topic
        assert state.id is not None
        if state.kind == "one_to_one":
            return self._names.get(state.id) or bare_id(state.id)
        if state.kind == "group":
            owner = self.header.user_id
            others = [p for p in participants if p != owner][:4]
            if others:
                names = ", ".join(self._names.get(p) or bare_id(p) for p in others)
                extra = len(participants) - len(others) - (1 if owner in participants else 0)
                return names + (f" and {extra} more" if extra > 0 else "")
        return bare_id(state.id)

    def _finish_document(self) -> None:
        self._finish_conversation()
        root = self._root
        if "conversations" not in root:
            if "userId" in root:
                raise InvalidExport("The export has no 'conversations'.")
            raise InvalidExport(
                "This JSON is not a Skype export: it has neither 'userId' nor 'conversations'."
            )
        self._read_header()
        if self._message_total == 0 and self.skipped:
            raise InvalidExport(
                "No message of the export could be read ("
                + ", ".join(f"{count} {reason}" for reason, count in self.skipped.items())
                + ")."
            )

    # -- one message --------------------------------------------------------------------

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _convert(self, raw: object, state: _ConversationState) -> SkypeMessage | None:
        """One MessageList item as a SkypeMessage (None, counted in ``skipped``, when it
        lacks a time, a sender or an id). The hot path: most messages are RichText
        without properties and without markup."""
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
        if zone is not UTC:  # "...Z" parses to UTC itself; others are made UTC
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
        self._message_total += 1
        if self._message_total > self._limits.max_messages:
            raise InvalidExport(f"The export has more than {self._limits.max_messages} messages.")
        state.message_count += 1

        names = self._names
        sender_name = get("displayName")
        if type(sender_name) is str and sender_name:
            if sender not in names:
                names[sender] = sender_name
        else:
            sender_name = names.get(sender)

        category = _CATEGORIES.get(raw_type)
        if category is None:
            category = "system" if raw_type.startswith("ThreadActivity/") else "other"
        properties = get("properties")
        if properties is None and category == "text":
            state.senders[sender] = None
            if "<" not in content:
                if raw_type != "Text" and "&" in content:
                    content = markup.unescape(content)
                return _new(SkypeMessage, (
                    conversation_id, message_id, sender, sender_name, sent_at, raw_type,
                    category, content.strip(), None, False, None, None, None, None, None, (),
                    None, (),
                ))  # fmt: skip
            if raw_type == "Text":
                return _new(SkypeMessage, (
                    conversation_id, message_id, sender, sender_name, sent_at, raw_type,
                    category, content.strip(), None, False, None, None, None, None, None, (),
                    None, (),
                ))  # fmt: skip

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
        if category == "text" or not content or type(call_log) is str:
            state.senders[sender] = None  # (structured messages: once their author is known)
        if call_log is not None and type(call_log) is str:
            entry = SkypeMessage(
                conversation_id, message_id, sender, sender_name, sent_at, raw_type, "call", "",
                edited_at, deleted,
            )  # fmt: skip
            return self._call_log_entry(entry, call_log)
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
                self._names.setdefault(identity, name)
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
                    self._names.setdefault(contact, name)
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
                    self._names.setdefault(identity, name)
        return message._replace(call_event=event, call_duration_s=duration)


class _Feeder:
    """Runs ijson's fused C pipeline (``ijson.items`` from the root) in a greenlet, as the
    file object it reads from: every ``read()`` first hands the messages the previous
    piece completed to the consumer (a greenlet switch), then checks the guards, then
    returns the next piece. (ijson's push interface needs no greenlet, but it chains
    three C coroutines through Python-level ``send`` calls for every event: twice the
    cost, measured here.)"""

    def __init__(self, export: ParsedExport) -> None:
        self.export = export
        self.limits = export._limits
        self.consumer = greenlet.getcurrent()
        self.chunk = b""
        self.position = 0
        self.opens: np.ndarray[Any, Any] = np.zeros(0, dtype=np.intp)  # "{" and "[" offsets
        self.first = True
        self.marker = (0, 0)
        self.stale_bytes = 0
        self.last_piece = 0

    def run(self) -> None:
        export = self.export
        root = export._root
        # The builder asks for a new mapping at every "{"; the first one is the root.
        map_type = itertools.chain([root], iter(dict, None)).__next__
        try:
            built = list(ijson.items(self, "", map_type=map_type, use_float=True))
        except ijson.common.JSONError as exc:
            raise _json_error(exc, export.bytes_read) from exc
        if self.first:
            raise InvalidExport("The file is empty.")
        if built != [root] or built[0] is not root:
            raise InvalidExport("The JSON is not an object, so it is not a Skype export.")
        batch = export._drain(final=True)
        if batch:
            self.consumer.switch(batch)
        export._finish_document()

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""
        export = self.export
        limits = self.limits
        if self.last_piece:
            self._check_progress()
            batch = export._drain(final=False)
            if batch:
                self.consumer.switch(batch)
        if self.position >= len(self.chunk):
            chunk = export._stream.read(limits.chunk_bytes)
            if not chunk:
                self.last_piece = 0
                return b""
            if self.first:
                chunk = export._check_start(chunk)
                self.first = False
            export.bytes_read += len(chunk)
            self.chunk, self.position = chunk, 0
            # Offsets of the opening brackets, found by vectorised comparisons.
            view = np.frombuffer(chunk, dtype=np.uint8)
            self.opens = np.flatnonzero((view == 0x7B) | (view == 0x5B))
        allowed = limits.max_depth - export._depth()
        if allowed <= 0:
            raise InvalidExport(
                f"The JSON is nested more than {limits.max_depth} levels deep; "
                "a Skype export is not."
            )
        # The piece stops before the (allowed + 1)-th opening bracket from here: however
        # the brackets nest, the tokenizer never goes deeper than max_depth.
        start = self.position
        cut = int(self.opens.searchsorted(start)) + allowed
        end = int(self.opens[cut]) if cut < len(self.opens) else len(self.chunk)
        self.position = end
        self.last_piece = end - start
        return self.chunk[start:end]

    def _check_progress(self) -> None:
        """The position in the document (conversation, message) must move: one value
        spanning more than ``max_item_bytes`` of input is refused."""
        export = self.export
        now = (export._conversation_total, export._message_total)
        if now != self.marker:
            self.marker = now
            self.stale_bytes = 0
            return
        self.stale_bytes += self.last_piece
        if self.stale_bytes > self.limits.max_item_bytes:
            raise InvalidExport(
                "One value in the export (a message, a conversation header or a string) is "
                f"larger than {self.limits.max_item_bytes // (1024 * 1024)} MB; a Skype "
                "export has none that large."
            )


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


def _json_error(exc: Exception, position: int) -> InvalidExport:
    detail = str(exc)
    if "premature EOF" in detail:
        return InvalidExport("The JSON ends early: the export is truncated (incomplete upload?).")
    if "UTF8" in detail or "UTF-8" in detail:
        return InvalidExport(f"The file is not valid UTF-8 text (near byte {position}).")
    if "trailing garbage" in detail:
        return InvalidExport("There is data after the end of the JSON document.")
    first_line = detail.splitlines()[0] if detail else "unreadable"
    first_line = first_line.removeprefix("b'").removeprefix('b"')
    return InvalidExport(
        f"The file is not valid JSON ({first_line.strip()}, near byte {position})."
    )


def parse_export(stream: ByteSource, limits: ParseLimits | None = None) -> ParsedExport:
    """A lazily parsed export over ``stream`` (messages.json bytes). Nothing is read until
    ``messages()`` is iterated."""
    return ParsedExport(stream, limits or ParseLimits())
