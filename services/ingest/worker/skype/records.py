"""What the parser yields: plain records, independent of JSON and of the markup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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


@dataclass(slots=True)
class SkypeMessage:
    """One item of a conversation's ``MessageList``, markup turned into fields.

    ``text`` is what a person reads: tags removed, HTML entities decoded, a quoted
    message's text dropped (``quote_of`` names it), for calls empty, for media and files
    the file name, for contacts the names, for a location its address, for a poll its
    question, for thread events a short description (e.g. the new topic).
    """

    conversation_id: str
    message_id: str
    sender_id: str
    sender_name: str | None
    """The message's ``displayName``, else the name this export gave that sender elsewhere
    (the 1:1 conversation's name, a call's participant list, a mention, a quote)."""
    sent_at: datetime
    """``originalarrivaltime``, UTC."""
    raw_type: str
    """``messagetype`` as written (``RichText``, ``Event/Call``, ``ThreadActivity/AddMember``)."""
    category: Category
    text: str
    edited_at: datetime | None = None
    """``properties.edittime``; for an old-style edit record (``<e_m>``) its own time."""
    deleted: bool = False
    """``properties.deletetime`` set, or an edit that left nothing."""
    call_duration_s: float | None = None
    """Longest participant ``duration`` of an ended call."""
    call_event: CallEvent | None = None
    media_name: str | None = None
    media_size: int | None = None
    quote_of: str | None = None
    """``messageid`` of the quoted message (else its ``timestamp``)."""
    mentions: tuple[str, ...] = ()
    """Ids of ``<at id="...">`` mentions, in order."""
    edit_of: str | None = None
    """An old-style edit record (``<e_m ts_ms=".."/>``) names the edited message by the
    epoch milliseconds of its arrival (``ts_ms``); None otherwise."""
    emoticons: tuple[str, ...] = ()
    """``type`` of each ``<ss>`` emoticon, in order (``smile``, ``heart``)."""


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
