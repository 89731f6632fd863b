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

import ijson
import orjson

from services.ingest.worker.skype import markup
from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.limits import ParseLimits
from services.ingest.worker.skype.records import (
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

_CALL_STATES = {"accepted": "ended", "missed": "missed", "declined": "missed"}


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
        try:
            for batch in self._run():
                yield from batch
        except InvalidExport:
            raise
        except RecursionError as exc:
            raise InvalidExport("The JSON is nested too deeply to be a Skype export.") from exc
        except MemoryError as exc:  # pragma: no cover - guarded by the limits above
            raise InvalidExport("The export is too large to read.") from exc
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

    # -- feeding ------------------------------------------------------------------------

    def _run(self) -> Iterator[list[SkypeMessage]]:
        limits = self._limits
        root = self._root
        # The builder asks for a new mapping at every "{"; the first one is the root.
        map_type = itertools.chain([root], iter(dict, None)).__next__
        sink = ijson.sendable_list()
        coro = ijson.items_coro(sink, "", map_type=map_type, use_float=True)
        read = self._stream.read
        first = True
        stale_bytes = 0
        marker = (0, 0)
        piece_size = limits.chunk_bytes
        while True:
            chunk = read(limits.chunk_bytes)
            if not chunk:
                break
            if first:
                chunk = self._check_start(chunk)
                first = False
                if not chunk:
                    continue
            self.bytes_read += len(chunk)
            position = 0
            size = len(chunk)
            while position < size:
                allowed = limits.max_depth - self._depth()
                piece = chunk[position : position + piece_size]
                opens = piece.count(b"{") + piece.count(b"[")
                while opens > allowed and len(piece) > 1:
                    piece = piece[: max(1, len(piece) // 2)]
                    opens = piece.count(b"{") + piece.count(b"[")
                if opens > allowed:
                    raise InvalidExport(
                        f"The JSON is nested more than {limits.max_depth} levels deep; "
                        "a Skype export is not."
                    )
                # Adapt: next time start from a piece twice this one (bounded by the chunk).
                piece_size = min(limits.chunk_bytes, len(piece) * 2)
                self._send(coro, piece)
                position += len(piece)
                batch = self._drain(final=False)
                if batch:
                    yield batch
                now = (self._conversation_total, self._message_total)
                if now == marker:
                    stale_bytes += len(piece)
                    if stale_bytes > limits.max_item_bytes:
                        raise InvalidExport(
                            "One value in the export (a message, a conversation header or a "
                            f"string) is larger than {limits.max_item_bytes // (1024 * 1024)} "
                            "MB; a Skype export has none that large."
                        )
                else:
                    marker = now
                    stale_bytes = 0
        if first:
            raise InvalidExport("The file is empty.")
        try:
            coro.close()
        except ijson.common.IncompleteJSONError as exc:
            raise _json_error(exc, self.bytes_read) from exc
        except ijson.common.JSONError as exc:
            raise _json_error(exc, self.bytes_read) from exc
        if not sink or sink[0] is not root:
            raise InvalidExport("The JSON is not an object, so it is not a Skype export.")
        yield self._drain(final=True)
        self._finish_document()

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

    def _send(self, coro: Any, piece: bytes) -> None:
        try:
            coro.send(piece)
        except ijson.common.IncompleteJSONError as exc:
            raise _json_error(exc, self.bytes_read) from exc
        except ijson.common.JSONError as exc:
            raise _json_error(exc, self.bytes_read) from exc

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
        if type(raw) is not dict:
            raise InvalidExport("A message in the export is not a JSON object.")
        sent_at = parse_time(raw.get("originalarrivaltime"))
        if sent_at is None:
            self._skip("without a readable time")
            return None
        sender = raw.get("from")
        if type(sender) is not str or not sender:
            self._skip("without a sender")
            return None
        message_id = raw.get("id")
        if type(message_id) is not str:
            if type(message_id) in (int, float):
                message_id = str(message_id)
            else:
                self._skip("without an id")
                return None
        content = raw.get("content")
        if type(content) is not str:
            if content is not None:
                self._skip("whose content is not text")
                return None
            content = ""
        raw_type = raw.get("messagetype")
        if type(raw_type) is not str:
            raw_type = ""
        conversation_id = state.id
        if conversation_id is None:
            declared = raw.get("conversationid")
            conversation_id = declared if type(declared) is str and declared else "unknown"
        self._message_total += 1
        if self._message_total > self._limits.max_messages:
            raise InvalidExport(f"The export has more than {self._limits.max_messages} messages.")
        state.message_count += 1

        names = self._names
        sender_name = raw.get("displayName")
        if type(sender_name) is str and sender_name:
            names.setdefault(sender, sender_name)
        else:
            sender_name = None

        edited_at = None
        deleted = False
        properties = raw.get("properties")
        call_log = None
        if type(properties) is dict:
            if "edittime" in properties:
                edited_at = parse_epoch_ms(properties["edittime"])
            if properties.get("deletetime"):
                deleted = True
                content = ""
            call_log = properties.get("call-log")

        category = _CATEGORIES.get(raw_type)
        if category is None:
            category = "system" if raw_type.startswith("ThreadActivity/") else "other"

        message = SkypeMessage(
            conversation_id, message_id, sender, sender_name, sent_at, raw_type, category, "",
            edited_at, deleted,
        )  # fmt: skip
        if call_log is not None and type(call_log) is str:
            self._apply_call_log(message, call_log)
        elif category == "text":
            if raw_type == "Text":
                message.text = content.strip()
            elif "<" not in content:
                message.text = (
                    markup.unescape(content).strip() if "&" in content else (content.strip())
                )
            else:
                rich = markup.parse_rich_text(content)
                message.text = rich.text
                message.mentions = rich.mentions
                message.emoticons = rich.emoticons
                message.quote_of = rich.quote_of
                if rich.edit_of is not None:
                    message.edit_of = rich.edit_of
                    message.edited_at = sent_at
                    if not rich.text:
                        message.deleted = True
                for identity, name in rich.names:
                    names.setdefault(identity, name)
        elif content:
            self._apply_structured(message, content)
        if message.sender_name is None:
            message.sender_name = names.get(message.sender_id)
        if message.sender_id not in state.senders:
            state.senders[message.sender_id] = None
        return message

    def _apply_structured(self, message: SkypeMessage, content: str) -> None:
        category = message.category
        if len(content) > _STRUCTURED_MAX:
            message.text = markup.strip_tags(content)
            return
        if category == "call":
            if message.raw_type == "Event/Call":
                call = markup.parse_call(content)
                message.call_event = call.event  # type: ignore[assignment]
                message.call_duration_s = call.duration_s
                for identity, name in call.parts:
                    self._names.setdefault(identity, name)
            else:
                message.text = markup.strip_tags(content)
        elif category in ("media", "file", "poll"):
            media = markup.parse_media(content)
            message.media_name = media.name
            message.media_size = media.size
            if category == "poll":
                message.text = media.title or markup.strip_tags(content)
            else:
                message.text = media.name or ""
        elif category == "contact":
            cards = markup.parse_contacts(content)
            message.text = ", ".join(name or contact for contact, name in cards)
            for contact, name in cards:
                if contact and name:
                    self._names.setdefault(contact, name)
        elif category == "location":
            message.text = markup.parse_location(content)
        elif category == "system" and message.raw_type.startswith("ThreadActivity/"):
            event = markup.parse_thread_event(content)
            if event.initiator:
                message.sender_id = event.initiator
                message.sender_name = None
            message.text = _describe_thread_event(message.raw_type, event)
        elif message.raw_type == "EndToEndEncryption/EncryptedText":
            message.text = ""
        else:
            message.text = markup.strip_tags(content)

    def _apply_call_log(self, message: SkypeMessage, call_log: str) -> None:
        """A ``48:calllogs`` entry: ``properties["call-log"]`` is a JSON string with
        ``callState`` (accepted/missed/declined) and start/connect/end times."""
        message.category = "call"
        try:
            log = orjson.loads(call_log)
        except orjson.JSONDecodeError:
            return
        if type(log) is not dict:
            return
        state = log.get("callState")
        message.call_event = _CALL_STATES.get(state) if type(state) is str else None  # type: ignore[assignment]
        connected = parse_time(log.get("connectTime"))
        ended = parse_time(log.get("endTime"))
        if message.call_event == "ended" and connected is not None and ended is not None:
            seconds = (ended - connected).total_seconds()
            message.call_duration_s = seconds if seconds >= 0 else None
        for key in ("originatorParticipant", "targetParticipant"):
            participant = log.get(key)
            if type(participant) is dict:
                identity, name = participant.get("id"), participant.get("displayName")
                if type(identity) is str and type(name) is str and identity and name:
                    self._names.setdefault(identity, name)


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
