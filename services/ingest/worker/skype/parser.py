"""Streaming parse of a Skype ``messages.json``: message by message, memory flat.

``framing`` finds the messages in the byte stream and has them decoded a piece (a run of
whole messages) at a time; ``convert`` turns each into a ``SkypeMessage``; this module
keeps the export's structure: the header, each conversation's name, kind, participants
and count, the names the export reveals. What stays in memory is one piece of input (at
most ``chunk_bytes`` plus one message), the header of the conversation being read, and
per conversation its id and counts.

MessageList order is not relied on: messages are yielded in file order with their own
timestamps; whoever needs time order sorts (the analytics does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from services.ingest.worker.skype import markup
from services.ingest.worker.skype.convert import (
    ConversationState,
    MessageConverter,
    conversation_kind,
    parse_epoch_ms,
    parse_time,
)
from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.framing import Framer
from services.ingest.worker.skype.limits import ParseLimits
from services.ingest.worker.skype.records import Conversation, ExportHeader, SkypeMessage
from services.ingest.worker.skype.streams import ByteSource
from services.ingest.worker.skype.wire import WireMessage

__all__ = [
    "ParsedExport",
    "bare_id",
    "conversation_kind",
    "parse_epoch_ms",
    "parse_export",
    "parse_time",
]


def bare_id(identity: str) -> str:
    """``live:.cid.abc`` from ``8:live:.cid.abc`` (the numeric prefix dropped)."""
    head, sep, rest = identity.partition(":")
    return rest if sep and head.isdigit() and rest else identity


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
        self._converter = MessageConverter(limits.max_messages)
        self.skipped: dict[str, int] = self._converter.skipped
        self._names = self._converter.names
        self._conversations: list[Conversation] = []
        self._current = ConversationState()
        self._closed: tuple[ConversationState, dict[str, Any]] | None = None
        self._conversation_total = 0
        self._framer = Framer(stream, limits, self)
        self._started = False
        self._finished = False

    @property
    def bytes_read(self) -> int:
        return self._framer.bytes_read

    # -- public -------------------------------------------------------------------------

    def messages(self) -> Iterator[SkypeMessage]:
        """Every message in file order; raises ``InvalidExport`` on bad input."""
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[SkypeMessage]]:
        """The messages as ``messages()`` yields them, a list at a time (a run of one
        conversation's messages, one piece of input; possibly empty). One pass, like
        ``messages()`` (either may be iterated, once)."""
        if self._started:
            raise RuntimeError("ParsedExport.messages() can be iterated only once")
        self._started = True
        try:
            yield from self._framer.batches()
        except InvalidExport:
            raise
        except RecursionError as exc:
            raise InvalidExport("The JSON is nested too deeply to be a Skype export.") from exc
        except MemoryError as exc:  # pragma: no cover - guarded by the limits
            raise InvalidExport("The export is too large to read.") from exc
        self._finish_document()
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

    # -- what the framer reports ----------------------------------------------------------

    def root_prefix(self, root: dict[str, Any]) -> None:
        self._read_header(root)

    def root_close(self, root: dict[str, Any]) -> None:
        self._read_header(root)
        self._finish_conversation()
        if "conversations" not in root:
            if "userId" in root:
                raise InvalidExport("The export has no 'conversations'.")
            raise InvalidExport(
                "This JSON is not a Skype export: it has neither 'userId' nor 'conversations'."
            )
        conversations = root["conversations"]
        if conversations is not None and type(conversations) is not list:
            raise InvalidExport(
                "The export's 'conversations' is not a list; this is not a Skype export."
            )

    def conversation_open(self) -> None:
        self._finish_conversation()
        self._conversation_total += 1
        if self._conversation_total > self._limits.max_conversations:
            raise InvalidExport(
                f"The export has more than {self._limits.max_conversations} conversations."
            )
        self._current = ConversationState()

    def conversation_prefix(self, conversation: dict[str, Any]) -> None:
        self._update_header(self._current, conversation)

    def conversation_close(self, conversation: dict[str, Any]) -> None:
        # Finished when the next one opens or the document ends (a header written after
        # the conversations still names the owner of the last one).
        self._closed = (self._current, conversation)
        self._current = ConversationState()

    def _finish_conversation(self) -> None:
        if self._closed is None:
            return
        state, conversation = self._closed
        self._closed = None
        self._update_header(state, conversation)
        message_list = conversation.get("MessageList")
        if message_list is not None and type(message_list) is not list:
            raise InvalidExport("A conversation's 'MessageList' is not a list.")
        thread = conversation.get("threadProperties")
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

    def wire_messages(self, batch: list[WireMessage]) -> list[SkypeMessage]:
        return self._converter.wire(batch, self._current)

    def raw_messages(self, batch: list[Any]) -> list[SkypeMessage]:
        return self._converter.raw(batch, self._current)

    # -- structure ----------------------------------------------------------------------

    def _read_header(self, root: dict[str, Any]) -> None:
        header = self.header
        if header.user_id is None:
            user_id = root.get("userId")
            if type(user_id) is str and user_id:
                header.user_id = user_id
        if header.export_date is None:
            header.export_date = parse_time(root.get("exportDate"))

    def _update_header(self, state: ConversationState, raw: dict[str, Any]) -> None:
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

    def _conversation_name(self, state: ConversationState, participants: dict[str, None]) -> str:
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
        if self._converter.total == 0 and self.skipped:
            raise InvalidExport(
                "No message of the export could be read ("
                + ", ".join(f"{count} {reason}" for reason, count in self.skipped.items())
                + ")."
            )


def parse_export(stream: ByteSource, limits: ParseLimits | None = None) -> ParsedExport:
    """A lazily parsed export over ``stream`` (messages.json bytes). Nothing is read until
    ``messages()`` is iterated."""
    return ParsedExport(stream, limits or ParseLimits())
