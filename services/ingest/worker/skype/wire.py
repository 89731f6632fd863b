"""How a MessageList item is read off the wire: the fields the parser uses, typed.

Pieces of MessageList (a run of whole messages, found by ``framing``) are decoded by
msgspec straight into these structs: only the fields below are built, every other field
(``version``, ``amsreferences``, reactions under ``properties``, ...) is checked for JSON
syntax and skipped in C without becoming a Python object. The types are strict on
purpose: a message whose used fields hold anything unusual (a number where Skype writes
a string, a nested value, a naive or malformed time, ...) fails the typed decode and the
piece is decoded again generically (``orjson``, dicts), where ``convert`` handles every
oddity as it always did. Strictness here costs nothing on real exports and keeps the two
paths equal by construction.
"""

from __future__ import annotations

import msgspec


class WireProperties(msgspec.Struct, gc=False):
    """``properties``: edits, deletions and call-log entries; the rest is skipped."""

    edittime: str | int | float | None = None
    deletetime: str | int | float | bool | None = None
    call_log: str | None = msgspec.field(default=None, name="call-log")


class WireMessage(msgspec.Struct, gc=False):
    """One MessageList item, as much of it as the parser reads."""

    id: str | None = None
    displayName: str | None = None  # noqa: N815 - the wire name
    originalarrivaltime: str | None = None
    messagetype: str | None = None
    content: str | None = None
    conversationid: str | None = None
    sender: str | None = msgspec.field(default=None, name="from")
    properties: WireProperties | None = None


MESSAGES = msgspec.json.Decoder(list[WireMessage])
"""Decodes ``[message, ...]`` into ``list[WireMessage]``."""
