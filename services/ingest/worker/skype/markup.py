"""Skype's content markup turned into clean text and the fields analysis needs.

Skype writes message ``content`` as a small XML-ish dialect (see
../shared/reference/skype-export-format.md): emoticons ``<ss>``, links ``<a>``, mentions
``<at>``, quotes ``<quote>``, old-style edit markers ``<e_m/>``, call participant lists
``<partlist>``, shared files ``<URIObject>``, contact cards, locations and thread events,
all with HTML entities. Content is not well-formed XML often enough (and is large enough in
bulk) that a real XML parser is both fragile and slow here: these are linear regular
expressions and ``str.find`` loops, with a fast path for markup-free text, which is most
messages. Nothing here recurses or backtracks over nested quantifiers, so a hostile
content string costs time linear in its length.
"""

from __future__ import annotations

import html
import re
from typing import NamedTuple

from services.ingest.worker.skype.records import CallEvent

_TAG = re.compile(r"<[^<>]*>")
_OTHER_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|apos);)")
_ATTR = re.compile(r'(?<![\w.:-])([A-Za-z_][\w.:-]*+)\s*+=\s*+"([^"]*+)"')
_EDIT_MARKER = re.compile(r"<e_m\b([^<>]*)>(?:\s*+</e_m>)?")
_EDIT_PREFIX = "Edited previous message: "
_MENTION = re.compile(r"<at\b([^<>]*)>([^<]*)</at>")
_MENTION_ID = re.compile(r'<at\b[^<>]*?\bid="([^"<>]*)"[^<>]*>([^<]*)</at>')
_PARTLIST_TYPE = re.compile(r'<partlist\b[^<>]*?\btype="([^"<>]*)"')
_PART_FAST = re.compile(
    r'<part\b[^<>]*?\bidentity="([^"<>]*)"[^<>]*>\s*+<name>([^<]*)</name>\s*+'
    r"(?:<duration>([^<]*)</duration>)?"
)
_EMOTICON = re.compile(r'<ss\b[^<>]*?\btype="([^"<>]*)"')
_QUOTE_TOKEN = re.compile(r"<quote\b([^<>]*)>|</quote>")
_PART_OPEN = re.compile(r"<part\b(?!list)([^<>]*)>")
_NAME = re.compile(r"<name>([^<]*)</name>")
_DURATION = re.compile(r"<duration>([^<]*)</duration>")
_ORIGINAL_NAME = re.compile(r'<OriginalName\b[^<>]*?\bv="([^"<>]*)"')
_META_NAME = re.compile(r'<meta\b[^<>]*?\boriginalName="([^"<>]*)"')
_FILE_SIZE = re.compile(r'<FileSize\b[^<>]*?\bv="([^"<>]*)"')
_TITLE = re.compile(r"<Title>([^<]*)</Title>", re.IGNORECASE)
_CONTACT = re.compile(r"<c\b([^<>]*)>")
_ELEMENT_TEXT = {
    name: re.compile(rf"<{name}>([^<]*)</{name}>")
    for name in ("initiator", "target", "value", "id")
}
_ROLE_TARGET = re.compile(r"<target>\s*+<id>([^<]*)</id>\s*+<role>([^<]*)</role>")


def unescape(text: str) -> str:
    """HTML entities decoded; the five XML entities (nearly all Skype writes) without the
    general decoder's per-entity callback."""
    if "&" not in text:
        return text
    if _OTHER_ENTITY.search(text) is not None:
        return html.unescape(text)
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def strip_tags(content: str) -> str:
    """Tags removed, entities decoded, outer whitespace trimmed."""
    if "<" in content:
        content = _TAG.sub("", content)
    return unescape(content).strip()


def attributes(tag_body: str) -> dict[str, str]:
    """``name="value"`` pairs of one tag, values decoded."""
    return {key: unescape(value) for key, value in _ATTR.findall(tag_body)}


_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (hot path)


class RichText(NamedTuple):
    text: str
    mentions: tuple[str, ...] = ()
    emoticons: tuple[str, ...] = ()
    quote_of: str | None = None
    edit_of: str | None = None
    names: tuple[tuple[str, str], ...] = ()
    """(id, display name) pairs this content reveals (mentions, quote authors)."""


def parse_rich_text(content: str) -> RichText:
    """A ``RichText`` message: clean text plus mentions, emoticons, quote and edit refs."""
    if "<" not in content:
        return _new(RichText, (unescape(content).strip(), (), (), None, None, ()))
    edit_of: str | None = None
    if "<e_m" in content:
        if content.startswith(_EDIT_PREFIX):
            content = content[len(_EDIT_PREFIX) :]
        marker = _EDIT_MARKER.search(content)
        if marker is not None:
            edit_of = attributes(marker.group(1)).get("ts_ms") or None
            content = _EDIT_MARKER.sub("", content)
    quote_of: str | None = None
    names: list[tuple[str, str]] = []
    if "<quote" in content:
        content, quote_of, quote_names = _remove_quotes(content)
        names.extend(quote_names)
    mentions: tuple[str, ...] = ()
    if "<at" in content:
        ids = []
        for raw_id, inner in _MENTION_ID.findall(content):
            mention_id = unescape(raw_id)
            if mention_id:
                ids.append(mention_id)
                name = unescape(inner).strip()
                if name:
                    names.append((mention_id, name))
        mentions = tuple(ids)
    emoticons: tuple[str, ...] = ()
    if "<ss" in content:
        emoticons = tuple(_EMOTICON.findall(content))
    text = unescape(_TAG.sub("", content)).strip()
    return _new(RichText, (text, mentions, emoticons, quote_of, edit_of, tuple(names)))


def _remove_quotes(content: str) -> tuple[str, str | None, list[tuple[str, str]]]:
    """Every ``<quote>...</quote>`` removed in one pass (nesting counted, an unclosed quote
    runs to the end); the first quote's ``messageid`` (else ``timestamp``) and the
    authors' names."""
    quote_of: str | None = None
    names: list[tuple[str, str]] = []
    kept: list[str] = []
    depth = 0
    position = 0
    for token in _QUOTE_TOKEN.finditer(content):
        if token.group(1) is None:  # </quote>
            if depth:
                depth -= 1
                if not depth:
                    position = token.end()
            continue
        attrs = attributes(token.group(1))
        if quote_of is None:
            quote_of = attrs.get("messageid") or attrs.get("timestamp") or None
        author, author_name = attrs.get("author"), attrs.get("authorname")
        if author and author_name:
            names.append((author, author_name))
        if not depth:
            kept.append(content[position : token.start()])
        depth += 1
    if not depth:
        kept.append(content[position:])
    return "".join(kept), quote_of, names


class CallInfo(NamedTuple):
    event: CallEvent | None
    """``started``, ``ended`` or ``missed`` (the ``partlist`` type), None if absent."""
    duration_s: float | None
    parts: tuple[tuple[str, str], ...]
    """(identity, name) of each participant."""


_CALL_EVENTS: dict[str, CallEvent] = {"started": "started", "ended": "ended", "missed": "missed"}


def parse_call(content: str) -> CallInfo:
    """An ``Event/Call``: ``<partlist type=".."><part identity=".."><name/><duration/>``."""
    kind = _PARTLIST_TYPE.search(content)
    if kind is None:
        if "<partlist" not in content:
            return CallInfo(None, None, ())
        event = None
    else:
        event = _CALL_EVENTS.get(kind.group(1).lower())
    parts = _PART_FAST.findall(content)
    if not parts and "<part" in content.replace("<partlist", ""):
        parts = _parts_any_order(content)
    duration: float | None = None
    named = []
    for identity, raw_name, raw_duration in parts:
        name = unescape(raw_name).strip() if raw_name else ""
        if identity and name:
            named.append((unescape(identity), name))
        if raw_duration:
            try:
                value = float(raw_duration)
            except ValueError:
                continue
            if 0 <= value < float("inf"):
                duration = value if duration is None else max(duration, value)
    if event != "ended":
        duration = None
    return _new(CallInfo, (event, duration, tuple(named)))


def _parts_any_order(content: str) -> list[tuple[str, str, str]]:
    """``<part>`` elements whose children are not in Skype's usual order."""
    parts = []
    openings = list(_PART_OPEN.finditer(content))
    for index, opening in enumerate(openings):
        stop = openings[index + 1].start() if index + 1 < len(openings) else len(content)
        body = content[opening.end() : stop]
        name_match = _NAME.search(body)
        duration_match = _DURATION.search(body)
        parts.append(
            (
                attributes(opening.group(1)).get("identity", ""),
                name_match.group(1) if name_match else "",
                duration_match.group(1) if duration_match else "",
            )
        )
    return parts


class MediaInfo(NamedTuple):
    name: str | None
    size: int | None
    title: str | None


def parse_media(content: str) -> MediaInfo:
    """A ``<URIObject>`` (pictures, files, video, audio, albums, polls, cards): the original
    file name, the size in bytes (summed over an album's items) and a ``<Title>``."""
    names = _ORIGINAL_NAME.findall(content) or (
        _META_NAME.findall(content) if "<meta" in content else []
    )
    name = (unescape(names[0]).strip() or None) if names else None
    total: int | None = None
    for raw in _FILE_SIZE.findall(content):
        try:
            size = int(raw)
        except ValueError:
            continue
        if size >= 0:
            total = size if total is None else total + size
    title = None
    if "<Title" in content or "<title" in content:
        title_match = _TITLE.search(content)
        if title_match is not None:
            title = strip_tags(title_match.group(1)) or None
    return _new(MediaInfo, (name, total, title))


def parse_contacts(content: str) -> tuple[tuple[str, str], ...]:
    """``<contacts><c t="s" s="user" f="Name"/>``: (id, name) of each shared contact."""
    cards = []
    for tag_body in _CONTACT.findall(content):
        attrs = attributes(tag_body)
        contact_id, name = attrs.get("s", ""), attrs.get("f", "")
        if contact_id or name:
            cards.append((contact_id, name))
    return tuple(cards)


def parse_location(content: str) -> str:
    """``<location address=".." ...>``: the address, else the element's text."""
    start = content.find("<location")
    if start >= 0:
        close = content.find(">", start)
        attrs = attributes(content[start + len("<location") : close if close >= 0 else None])
        for key in ("address", "addressFriendlyName", "shortAddress"):
            if attrs.get(key):
                return attrs[key].strip()
    return strip_tags(content)


class ThreadEvent(NamedTuple):
    initiator: str | None
    targets: tuple[str, ...]
    value: str | None
    roles: tuple[tuple[str, str], ...]


def parse_thread_event(content: str) -> ThreadEvent:
    """``<topicupdate><initiator/><value/>``, ``<addmember><initiator/><target/>``, ..."""
    initiator = _ELEMENT_TEXT["initiator"].search(content)
    roles = tuple(
        (unescape(member).strip(), unescape(role).strip())
        for member, role in _ROLE_TARGET.findall(content)
    )
    targets = tuple(unescape(t).strip() for t in _ELEMENT_TEXT["target"].findall(content))
    value = _ELEMENT_TEXT["value"].search(content)
    return ThreadEvent(
        unescape(initiator.group(1)).strip() or None if initiator is not None else None,
        tuple(t for t in targets if t),
        unescape(value.group(1)).strip() if value is not None else None,
        roles,
    )
