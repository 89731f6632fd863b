"""What the parser yields: plain records, independent of JSON and of the markup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

Category = Literal[
    "text", "media", "file", "call", "contact", "location", "poll", "system", "other"
]
CATEGORIES: tuple[Category, ...] = (
    "text",
    "media",
    "file",
    "call",
    "contact",
    "location",
    "poll",
    "system",
    "other",
)
ConversationKind = Literal["one_to_one", "group", "bot", "special"]
CallEvent = Literal["started", "ended", "missed"]


@dataclass(slots=True)
class ExportHeader:
    """``userId`` and ``exportDate`` of messages.json (None until read; Skype writes them
    first, but JSON does not promise key order)."""

    user_id: str | None = None
    export_date: datetime | None = None


class SkypeMessage(NamedTuple):
    """One item of a conversation's ``MessageList``, markup turned into fields.

    A NamedTuple (immutable; read by attribute): created at C speed, which matters at a
    few hundred thousand messages a second (a slots dataclass's ``__init__`` cost more
    than the JSON tokenizing of the message here).

    ``text`` is what a person reads: tags removed, HTML entities decoded, a quoted
    message's text dropped (``quote_of`` names it), for calls empty, for media and files
    the file name, for contacts the names, for a location its address, for a poll its
    question, for thread events a short description (e.g. the new topic).

    ``sender_name``: the message's ``displayName``, else the name this export gave that
    sender earlier (the 1:1 conversation's name, a call's participant list, a mention, a
    quote). ``sent_at``: ``originalarrivaltime``, aware UTC. ``raw_type``: ``messagetype``
    as written. ``edited_at``: ``properties.edittime``; for an old-style edit record
    (``<e_m>``) its own time. ``deleted``: ``properties.deletetime`` set, or an edit that
    left nothing. ``call_duration_s``: the longest participant ``duration`` of an ended
    call. ``quote_of``: ``messageid`` of the quoted message (else its ``timestamp``).
    ``mentions``: ids of ``<at id>`` mentions, in order. ``edit_of``: an old-style edit
    record names the edited message by the epoch milliseconds of its arrival (``ts_ms``).
    ``emoticons``: the ``type`` of each ``<ss>`` emoticon, in order.
    """

    conversation_id: str
    message_id: str
    sender_id: str
    sender_name: str | None
    sent_at: datetime
    raw_type: str
    category: Category
    text: str
    edited_at: datetime | None = None
    deleted: bool = False
    call_duration_s: float | None = None
    call_event: CallEvent | None = None
    media_name: str | None = None
    media_size: int | None = None
    quote_of: str | None = None
    mentions: tuple[str, ...] = ()
    edit_of: str | None = None
    emoticons: tuple[str, ...] = ()


@dataclass(slots=True)
class Conversation:
    """One conversation, complete once ``ParsedExport.messages()`` is exhausted."""

    id: str
    name: str
    """``displayName``, else the thread's ``topic``, else derived (the partner's name or id
    for 1:1 chats, the members' names for groups)."""
    kind: ConversationKind
    participants: tuple[str, ...]
    """Members of a group (``threadProperties.members``) or the owner and the partner of a
    1:1 chat, plus every sender seen, in first-seen order."""
    message_count: int
