"""Where the messages are in a streamed messages.json, found without tokenizing most of it.

messages.json is ``{"userId", "exportDate", "conversations": [{"id", ..., "MessageList":
[message, ...]}, ...]}``: nearly all of its bytes are MessageList items. The framer cuts
the byte stream into *pieces*, each a run of whole MessageList items, and has each piece
decoded in one C call (``wire.MESSAGES``: msgspec into typed structs; a piece it refuses
is decoded again generically by orjson). Everything outside the MessageLists (the root's
fields, each conversation's header) is kept as a small *skeleton* -- its bytes with the
drained lists replaced by ``[]`` -- and parsed by orjson when it is complete (and once
early, at the opening of a list, for what is known so far: the owner, the conversation's
id and name).

Two ways to find the cuts:

- *fast*: inside a MessageList, at a known item boundary, the last ``},{"`` before the
  next ``"MessageList"`` key and within ``2 * max_container_items`` bytes is taken as the
  next boundary, and the piece up to it is decoded. The decode is the proof: a piece
  ending anywhere but at an item boundary of this list is not valid JSON (inside a string
  it ends in an open string, deeper in a message it leaves brackets open, past the
  list's end it closes a bracket it never opened). ``},{"`` never occurs inside a JSON
  string (its quote would be escaped), so on real exports the guess is right but at a
  conversation's end, which the ``"MessageList"`` bound and a look at the byte before
  the ``}`` avoid.
- *exact*: a vectorised structural scan (numpy) of a block of bytes: quotes, backslash
  runs (escaped quotes), brackets outside strings and their depth. It runs where the fast
  guess has no candidate or is refused: at the start, around every conversation
  boundary, inside a message larger than a fast piece, and to the end of anything
  unusual; blocks start small and double while it lasts, and the fast way resumes at the
  first item boundary past the trouble.

Guards (the exact scan enforces them; the fast way only ever decodes pieces small enough
that they cannot be broken):

- depth: the scan refuses nesting deeper than ``max_depth`` before anything is decoded.
  A fast piece is decoded by msgspec, whose typed fields are flat; a deep value can only
  hide in a field the parser never reads, where msgspec skips it without building it,
  bounded by its recursion limit (a deeper one fails the piece, and the scan refuses it);
- size of one item: a message, a conversation header, the root's fields or a value
  between conversations that stays open for more than ``max_item_bytes`` is refused;
- items per container: a container with more than ``max_container_items`` items needs
  more than twice as many bytes, so only items that large are walked and counted (a fast
  piece is never that large);
- truncation, trailing data, structure (a conversation or a message that is not an
  object, ``MessageList`` or ``conversations`` that is not a list): checked here;
  invalid JSON and invalid UTF-8: the decoders' errors, turned into sentences.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Generator, Iterator
from typing import Any, Protocol

import msgspec
import numpy as np
import orjson

from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.limits import ParseLimits
from services.ingest.worker.skype.records import SkypeMessage
from services.ingest.worker.skype.streams import ByteSource
from services.ingest.worker.skype.wire import MESSAGES, WireMessage

_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"
_KEY_MESSAGE_LIST = b'"MessageList"'
_CANDIDATE = b'},{"'
_CANDIDATE_SPACED = re.compile(rb'\}[ \t\r\n]*,[ \t\r\n]*\{[ \t\r\n]*"')

# Frame kinds (one per open container down to the MessageList's depth).
_ROOT, _CONVERSATIONS, _CONVERSATION, _MESSAGE_LIST, _OTHER = range(5)
# Who owns the bytes between two structural events.
_OUTSIDE, _IN_ROOT, _IN_CONVERSATIONS, _IN_CONVERSATION, _IN_MESSAGES = range(5)
_LIST_DEPTH = 4  # root 1, conversations 2, a conversation 3, its MessageList 4

_MIN_BLOCK = 4096
_UTF8_SLICE = 8192
_EMPTY = np.zeros(0, dtype=np.intp)


class Sink(Protocol):
    """What the framer reports (``parser.ParsedExport`` implements it)."""

    def root_prefix(self, root: dict[str, Any]) -> None:
        """The root's fields written before ``conversations`` (its list is ``[]``)."""

    def root_close(self, root: dict[str, Any]) -> None:
        """The root's fields, complete."""

    def conversation_open(self) -> None: ...

    def conversation_prefix(self, conversation: dict[str, Any]) -> None:
        """The conversation's fields before its ``MessageList`` (the list is ``[]``)."""

    def conversation_close(self, conversation: dict[str, Any]) -> None: ...

    def wire_messages(self, batch: list[WireMessage]) -> list[SkypeMessage]: ...

    def raw_messages(self, batch: list[Any]) -> list[SkypeMessage]: ...


class Framer:
    """Reads ``stream`` to its end, reporting the structure to ``sink``; ``batches()``
    yields what the sink made of each piece of messages."""

    def __init__(self, stream: ByteSource, limits: ParseLimits, sink: Sink) -> None:
        self._stream = stream
        self._limits = limits
        self._sink = sink
        self._fast_piece = 2 * limits.max_container_items
        self.bytes_read = 0
        self.fast = True
        """False: the exact scan everywhere (tests compare the two)."""
        self._buf = b""
        self._base = 0  # file offset of _buf[0]
        self._sp = 0  # the exact scan has seen _buf[:_sp]
        self._mark = 0  # bytes from here to _sp are not yet given to their owner
        self._cut = 0  # in a MessageList: the first byte not yet decoded (an item boundary)
        self._first_piece = True  # in a MessageList: no item decoded yet
        self._in_string = False
        self._escaped = False
        self._depth = 0
        self._frames: list[int] = []  # kinds of the open containers down to depth 4
        self._owner = _OUTSIDE
        self._root_seen = False
        self._root_done = False
        self._root = bytearray()
        self._conversation = bytearray()
        self._gap = bytearray()  # bytes between two conversations
        self._after_conversation = False  # a conversation ended since the list opened
        self._exact_until = 0  # file offset the exact scan must pass before fast resumes
        self._block = _MIN_BLOCK
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._bad_utf8: int | None = None  # file offset of the first invalid byte

    # -- reading ------------------------------------------------------------------------

    def batches(self) -> Iterator[list[SkypeMessage]]:
        first = True
        while True:
            chunk = self._stream.read(self._limits.chunk_bytes)
            if first:
                if not chunk:
                    raise InvalidExport("The file is empty.")
                chunk = _check_start(chunk)
                first = False
            self._check_utf8(chunk)
            self.bytes_read += len(chunk)
            self._append(chunk)
            yield from self._process(eof=not chunk)
            self._refuse_bad_utf8(eof=False)
            if not chunk:
                break
        self._finish()

    def _check_utf8(self, chunk: bytes) -> None:
        """Every byte of the file is UTF-8, also in the fields the typed decode skips
        without building them (keys and values it does not read). ASCII chunks cost a
        word-at-a-time scan; others an incremental decode (a sequence cut by a slice's
        end is completed by the next; one cut by the file's end leaves the JSON
        incomplete, which the framer reports as truncation). The first invalid byte is
        refused once the parse has passed it (see ``_refuse_bad_utf8``), so that an error
        the decoders report earlier in the file keeps its own sentence."""
        if self._bad_utf8 is not None or (chunk.isascii() and not self._utf8.getstate()[0]):
            return
        decoder = self._utf8
        # Slices of 8 KiB: decoding whole chunks (strings of 64-256 KiB made and freed
        # each time) grows the C heap by ~50 MB through fragmentation; these stay flat.
        for start in range(0, len(chunk), _UTF8_SLICE):
            piece = chunk[start : start + _UTF8_SLICE]
            pending = len(decoder.getstate()[0])
            if not pending and piece.isascii():
                continue
            try:
                decoder.decode(piece)
            except UnicodeDecodeError as exc:
                self._bad_utf8 = self.bytes_read + start - pending + exc.start
                return

    def _refuse_bad_utf8(self, *, eof: bool) -> None:
        bad = self._bad_utf8
        if bad is None:
            return
        passed = self._base + (self._cut if self._owner == _IN_MESSAGES else self._sp)
        if eof or bad < passed:
            raise InvalidExport(f"The file is not valid UTF-8 text (near byte {bad}).")

    def _append(self, chunk: bytes) -> None:
        """Drops what is consumed, appends ``chunk``."""
        if self._owner == _IN_MESSAGES:
            keep = self._mark = self._cut  # (the skeletons are not fed inside the list)
        else:
            keep = min(self._mark, self._sp)
        if keep:
            self._buf = self._buf[keep:] + chunk
            self._base += keep
            self._sp -= keep
            self._mark -= keep
            self._cut -= keep
        elif chunk:
            self._buf += chunk

    def _process(self, *, eof: bool) -> Iterator[list[SkypeMessage]]:
        end = len(self._buf)
        while True:
            if (
                self.fast
                and self._owner == _IN_MESSAGES
                and self._sp == self._cut
                and self._base + self._cut >= self._exact_until
            ):
                batch, verdict = self._fast_step(eof)
                if batch is not None:
                    if batch:
                        yield batch
                    continue
                if verdict == "wait":
                    break
            if self._sp >= end:
                break
            stop = min(end, self._sp + self._block)
            if self._block < self._limits.chunk_bytes:
                self._block *= 2
            yield from self._exact(stop)
        self._check_sizes()

    # -- the fast way -------------------------------------------------------------------

    def _fast_step(self, eof: bool) -> tuple[list[SkypeMessage] | None, str]:
        """One fast piece: (messages, "") when decoded; (None, "wait") when more input
        is needed; (None, "exact") when the exact scan must go first."""
        buf = self._buf
        cut = self._cut
        end = len(buf)
        limit = buf.find(_KEY_MESSAGE_LIST, cut, end)
        bound = end if limit < 0 else limit
        far = min(bound, cut + self._fast_piece)
        candidate = _last_candidate(buf, cut, far)
        if candidate < 0:
            if limit >= 0:
                self._exact_until = self._base + limit + len(_KEY_MESSAGE_LIST)
                return None, "exact"
            if eof:
                self._exact_until = self._base + end
                return None, "exact"
            if far < bound:  # one item larger than a fast piece: exact past it
                self._exact_until = self._base + far
                return None, "exact"
            return None, "wait"
        piece = _list_of(buf, cut, candidate + 1, first=self._first_piece)
        if piece is None:
            self._exact_until = self._base + candidate + 1
            return None, "exact"
        try:
            wire = MESSAGES.decode(piece)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            self._exact_until = self._base + candidate + 1
            return None, "exact"
        self._cut = self._sp = self._mark = candidate + 1
        self._first_piece = False
        return self._sink.wire_messages(wire), ""

    # -- the exact way ------------------------------------------------------------------

    def _exact(self, stop: int) -> Iterator[list[SkypeMessage]]:
        """Scans ``_buf[_sp:stop]``, handling every structural event; stops early where the
        fast way may resume."""
        buf = self._buf
        start = self._sp
        positions, opens, levels, state = _scan(
            buf, start, stop, self._in_string, self._escaped, self._depth
        )
        if levels.size and int(levels.max()) > self._limits.max_depth:
            raise _too_deep(self._limits.max_depth)
        structural = np.flatnonzero(levels <= _LIST_DEPTH)
        item_ends = positions[(levels == _LIST_DEPTH + 1) & ~opens]
        for index in structural.tolist():
            position = int(positions[index])
            if self._owner == _IN_MESSAGES:
                resumed = yield from self._items(item_ends, position)
                if resumed:
                    return
            if opens[index]:
                self._open(position, int(levels[index]))
                if self._owner == _IN_MESSAGES and self._may_resume(position + 1):
                    self._resume(position + 1)
                    return
            else:
                yield from self._close(position, int(levels[index]))
        if self._owner == _IN_MESSAGES:
            resumed = yield from self._items(item_ends, stop)
            if resumed:
                return
        self._in_string, self._escaped, self._depth = state
        self._sp = stop
        self._give(stop)

    def _may_resume(self, position: int) -> bool:
        return self.fast and self._base + position >= self._exact_until

    def _resume(self, position: int) -> None:
        """Continue at an item boundary of the MessageList (depth 4, outside strings)."""
        self._cut = self._sp = self._mark = position
        self._in_string = self._escaped = False
        self._depth = _LIST_DEPTH
        self._block = _MIN_BLOCK

    def _items(
        self, item_ends: np.ndarray[Any, Any], before: int
    ) -> Generator[list[SkypeMessage], None, bool]:
        """Decodes the items of the MessageList that end after the cut and before
        ``before``; True if the fast way resumes after one of them."""
        low = int(np.searchsorted(item_ends, self._cut))
        high = int(np.searchsorted(item_ends, before))
        if high <= low:
            return False
        if self.fast:
            threshold = self._exact_until - self._base
            first_ok = low + int(np.searchsorted(item_ends[low:high], threshold - 1))
            if first_ok < high:
                end = int(item_ends[first_ok]) + 1
                yield self._decode(self._cut, end, item_ends[low : first_ok + 1])
                self._resume(end)
                return True
        end = int(item_ends[high - 1]) + 1
        yield self._decode(self._cut, end, item_ends[low:high])
        self._cut = end
        return False

    def _decode(self, start: int, end: int, item_ends: np.ndarray[Any, Any]) -> list[SkypeMessage]:
        """The items in ``_buf[start:end]`` (ending at ``item_ends``) as messages."""
        first = self._first_piece
        self._first_piece = False
        piece = _list_of(self._buf, start, end, first=first)
        if piece is None:
            raise self._json_error(start, end, "expected ',' between messages")
        spans = np.diff(item_ends, prepend=start)
        large = bool(spans.size) and int(spans.max()) > self._fast_piece
        if not large:
            try:
                return self._sink.wire_messages(MESSAGES.decode(piece))
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass
        items = self._generic(piece, start, end)
        if large:
            for item in items:
                _check_counts(item, self._limits.max_container_items)
        return self._sink.raw_messages(items)

    def _generic(self, piece: bytes, start: int, end: int) -> list[Any]:
        try:
            items = orjson.loads(piece)
        except orjson.JSONDecodeError as exc:
            items = _lenient(piece, exc)
            if items is None:
                raise self._json_error(start, end, str(exc)) from exc
        assert type(items) is list
        return items

    # -- structure ----------------------------------------------------------------------

    def _open(self, position: int, depth: int) -> None:
        buf = self._buf
        bracket = buf[position]
        parent = self._frames[-1] if self._frames else None
        self._give(position)
        if parent is None:
            if self._root_done:
                raise InvalidExport("There is data after the end of the JSON document.")
            if bracket != 0x7B:
                raise InvalidExport(
                    "The JSON is a list, not a Skype export (an object with userId and "
                    "conversations)."
                )
            self._root_seen = True
            self._frames.append(_ROOT)
            self._owner = _IN_ROOT
            self._root += b"{"
        elif parent == _ROOT:
            key = _last_key(self._root)
            if key == b"conversations":
                if bracket != 0x5B:
                    raise InvalidExport(
                        "The export's 'conversations' is not a list; this is not a Skype export."
                    )
                self._frames.append(_CONVERSATIONS)
                self._root += b"["
                self._sink.root_prefix(self._parse_skeleton(self._root + b"]}", position))
                self._owner = _IN_CONVERSATIONS
                self._gap.clear()
                self._after_conversation = False
            else:
                self._frames.append(_OTHER)
                self._root.append(bracket)
        elif parent == _CONVERSATIONS:
            if bracket != 0x7B:
                raise InvalidExport("A conversation in the export is not a JSON object.")
            self._check_gap(between=True)
            self._frames.append(_CONVERSATION)
            self._owner = _IN_CONVERSATION
            self._conversation = bytearray(b"{")
            self._sink.conversation_open()
        elif parent == _CONVERSATION:
            key = _last_key(self._conversation)
            if key == b"MessageList":
                if bracket != 0x5B:
                    raise InvalidExport("A conversation's 'MessageList' is not a list.")
                self._frames.append(_MESSAGE_LIST)
                self._conversation += b"["
                self._sink.conversation_prefix(
                    self._parse_skeleton(self._conversation + b"]}", position)
                )
                self._owner = _IN_MESSAGES
                self._cut = position + 1
                self._first_piece = True
            else:
                self._frames.append(_OTHER)
                self._conversation.append(bracket)
        else:  # inside a value of the root or of a conversation's header
            self._frames.append(_OTHER)
            self._owner_buffer().append(bracket)
        self._mark = position + 1

    def _close(self, position: int, depth: int) -> Iterator[list[SkypeMessage]]:
        buf = self._buf
        bracket = buf[position]
        if not self._frames:
            raise InvalidExport(
                "There is data after the end of the JSON document."
                if self._root_done
                else "The file is not valid JSON (a bracket closes what was never opened)."
            )
        self._give(position)
        kind = self._frames.pop()
        if kind == _MESSAGE_LIST:
            if bracket != 0x5D:
                raise self._json_error(position, position + 1, "mismatched brackets")
            tail = _list_of(buf, self._cut, position, first=self._first_piece)
            if tail is None:
                raise self._json_error(self._cut, position, "expected a message after ','")
            if tail != b"[]":
                items = self._generic(tail, self._cut, position)
                self._first_piece = False
                yield self._sink.raw_messages(items)
            self._conversation += b"]"
            self._owner = _IN_CONVERSATION
        elif kind == _CONVERSATION:
            self._conversation.append(bracket)
            document = self._parse_skeleton(bytes(self._conversation), position)
            if len(self._conversation) > self._fast_piece:
                _check_counts(document, self._limits.max_container_items)
            self._sink.conversation_close(document)
            self._conversation = bytearray()
            self._owner = _IN_CONVERSATIONS
            self._gap.clear()
            self._after_conversation = True
        elif kind == _CONVERSATIONS:
            if bracket != 0x5D:
                raise self._json_error(position, position + 1, "mismatched brackets")
            self._check_gap(between=False)
            self._root += b"]"
            self._owner = _IN_ROOT
        elif kind == _ROOT:
            self._root.append(bracket)
            document = self._parse_skeleton(bytes(self._root), position)
            if len(self._root) > self._fast_piece:
                for value in document.values():
                    _check_counts(value, self._limits.max_container_items)
            self._root_done = True
            self._owner = _OUTSIDE
            self._sink.root_close(document)
        else:
            self._owner_buffer().append(bracket)
        self._mark = position + 1

    def _owner_buffer(self) -> bytearray:
        owner = self._owner
        if owner == _IN_ROOT:
            return self._root
        if owner == _IN_CONVERSATION:
            return self._conversation
        if owner == _IN_CONVERSATIONS:
            return self._gap
        raise AssertionError(owner)

    def _give(self, upto: int) -> None:
        """Hands ``_buf[_mark:upto]`` to its owner (a skeleton, the gap, or nobody)."""
        mark = self._mark
        if upto <= mark:
            return
        owner = self._owner
        if owner == _IN_MESSAGES:
            return  # pieces are cut from the buffer itself
        data = self._buf[mark:upto]
        self._mark = upto
        if owner == _OUTSIDE:
            if data.strip(_WS):
                if self._root_done:
                    raise InvalidExport("There is data after the end of the JSON document.")
                _check_start(data.lstrip(_WS))
                raise InvalidExport(
                    "The file is not a JSON object, so it is not a Skype messages.json."
                )
            return
        self._owner_buffer().extend(data)

    def _check_gap(self, *, between: bool) -> None:
        """The bytes before a conversation (``between``) or before the list's end."""
        gap = bytes(self._gap).strip(_WS)
        self._gap.clear()
        expected = b"," if between and self._after_conversation else b""
        if gap == expected:
            return
        values = [value.strip(_WS) for value in gap.split(b",")]
        if any(values):
            raise InvalidExport("A conversation in the export is not a JSON object.")
        raise InvalidExport("The file is not valid JSON (a misplaced ',' in 'conversations').")

    def _check_sizes(self) -> None:
        limit = self._limits.max_item_bytes
        pending = len(self._buf) - self._cut if self._owner == _IN_MESSAGES else 0
        if max(pending, len(self._root), len(self._conversation), len(self._gap)) > limit:
            raise self._misread() or InvalidExport(
                "One value in the export (a message, a conversation header or a string) is "
                f"larger than {limit // (1024 * 1024)} MB; a Skype export has none that large."
            )

    def _finish(self) -> None:
        self._refuse_bad_utf8(eof=True)
        if not self._root_seen or self._frames or self._in_string:
            raise self._misread() or InvalidExport(
                "The JSON ends early: the export is truncated (incomplete upload?)."
            )

    def _misread(self) -> InvalidExport | None:
        """The JSON error that makes the scan see an open string or container (a stray
        quote or bracket earlier in what is still pending), rather than a truncated file
        or an oversized value; None when what is pending is valid JSON so far."""
        if self._owner == _IN_MESSAGES:
            start = self._cut
            data = self._buf[start:].lstrip(_WS)
            skipped = len(self._buf) - start - len(data)
            if not self._first_piece and data[:1] == b",":
                data, skipped = data[1:], skipped + 1
            offset = self._base + start + skipped - 1  # (minus the "[" put before)
            data = b"[" + data
        elif self._owner in (_IN_ROOT, _IN_CONVERSATION):
            data = bytes(self._owner_buffer())
            offset = None
        else:
            return None
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            detail = str(exc)
            if detail.startswith("unexpected end of data") or any(
                word in detail for word in ("surrogate", "infinity", "depth limit")
            ):
                return None  # truncated so far, or a value the limits refuse by size
            if offset is None:
                return InvalidExport(f"The file is not valid JSON ({detail.split(': line ')[0]}).")
            return _decode_error(data[exc.pos :], offset + exc.pos, detail)
        return None

    # -- errors -------------------------------------------------------------------------

    def _parse_skeleton(self, data: bytes | bytearray, position: int) -> dict[str, Any]:
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            document = _lenient(bytes(data), exc)
            if document is None:
                raise _decode_error(bytes(data), self._base + position, str(exc)) from exc
        assert type(document) is dict
        return document

    def _json_error(self, start: int, end: int, detail: str) -> InvalidExport:
        return _decode_error(self._buf[start:end], self._base + start, detail)


# -- the structural scan ------------------------------------------------------------------


_Array = np.ndarray[Any, Any]


def _scan(
    buf: bytes, start: int, stop: int, in_string: bool, escaped: bool, depth: int
) -> tuple[_Array, _Array, _Array, tuple[bool, bool, int]]:
    """The brackets of ``buf[start:stop]`` that are outside strings: their positions in
    ``buf``, whether each opens, and the depth each opens or closes; and the state at
    ``stop`` (inside a string, after an escaping backslash, depth)."""
    size = stop - start
    view = np.frombuffer(buf, dtype=np.uint8, count=size, offset=start)
    quotes = np.flatnonzero(view == 0x22)
    escaped_out = False
    if buf.find(b"\\", start, stop) >= 0:
        quotes, escaped_out = _unescaped_quotes(view, quotes, escaped)
    elif escaped and quotes.size and quotes[0] == 0:
        quotes = quotes[1:]
    folded = view | 0x20  # "[" -> "{", "]" -> "}"
    brackets = np.flatnonzero((folded == 0x7B) | (folded == 0x7D))
    if quotes.size:
        outside = (np.searchsorted(quotes, brackets) & 1) == (1 if in_string else 0)
        brackets = brackets[outside]
    elif in_string:
        brackets = _EMPTY
    in_string_out = in_string ^ bool(quotes.size & 1)
    opens = folded[brackets] == 0x7B
    steps = np.where(opens, 1, -1)
    after = depth + np.cumsum(steps)
    levels = np.where(opens, after, after + 1)
    depth_out = int(after[-1]) if after.size else depth
    return brackets + start, opens, levels, (in_string_out, escaped_out, depth_out)


def _unescaped_quotes(
    view: np.ndarray[Any, Any], quotes: np.ndarray[Any, Any], escaped: bool
) -> tuple[np.ndarray[Any, Any], bool]:
    """The quotes not escaped by a backslash (an odd run of backslashes before them;
    ``escaped``: the block starts right after an odd run), and whether the block ends in
    an odd run."""
    slashes = np.flatnonzero(view == 0x5C)
    starts = np.ones(slashes.size, dtype=bool)
    np.not_equal(np.diff(slashes), 1, out=starts[1:])
    run_begin = np.maximum.accumulate(np.where(starts, np.arange(slashes.size), 0))
    carried = escaped and slashes[0] == 0  # the first run continues the previous block's
    keep = np.ones(quotes.size, dtype=bool)
    if escaped and quotes.size and quotes[0] == 0:
        keep[0] = False
    after_slash = np.flatnonzero(quotes > 0)
    after_slash = after_slash[view[quotes[after_slash] - 1] == 0x5C]
    if after_slash.size:
        at = np.searchsorted(slashes, quotes[after_slash] - 1)
        runs = at - run_begin[at] + 1
        if carried:
            runs = runs + (run_begin[at] == 0)
        keep[after_slash[(runs & 1) == 1]] = False
    last = slashes.size - 1
    escaped_out = False
    if int(slashes[last]) == view.size - 1:
        run = last - int(run_begin[last]) + 1 + (1 if carried and run_begin[last] == 0 else 0)
        escaped_out = bool(run & 1)
    return quotes[keep], escaped_out


# -- helpers ------------------------------------------------------------------------------


def _check_start(chunk: bytes) -> bytes:
    if chunk.startswith(_BOM):
        chunk = chunk[len(_BOM) :]
    stripped = chunk.lstrip(_WS)
    if not stripped or stripped[:1] == b"{":
        return chunk
    if stripped[:1] == b"[":
        raise InvalidExport(
            "The JSON is a list, not a Skype export (an object with userId and conversations)."
        )
    if stripped[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in stripped[:4]:
        raise InvalidExport("The file is UTF-16 or UTF-32 text; Skype exports are UTF-8 JSON.")
    raise InvalidExport("The file is not a JSON object, so it is not a Skype messages.json.")


def _last_candidate(buf: bytes, start: int, end: int) -> int:
    """The ``}`` of the last plausible item boundary in ``buf[start:end]``, else -1. A
    ``}`` right after ``}]`` most likely closes a conversation: the one before is taken."""
    for candidate in _candidates(buf, start, end):
        before = buf[max(start, candidate - 64) : candidate].rstrip(_WS)
        if not before.endswith(b"]") or not before[:-1].rstrip(_WS).endswith(b"}"):
            return candidate
    return -1


def _candidates(buf: bytes, start: int, end: int) -> Iterator[int]:
    """Positions of ``},{"`` (compact JSON), else of ``}``, ``,``, ``{``, ``"`` with
    whitespace between (indented JSON), last first."""
    candidate = buf.rfind(_CANDIDATE, start, end)
    if candidate >= 0:
        while candidate > start:
            yield candidate
            candidate = buf.rfind(_CANDIDATE, start, candidate)
        return
    spaced = [found.start() for found in _CANDIDATE_SPACED.finditer(buf, start, end)]
    yield from reversed(spaced)


def _list_of(buf: bytes, start: int, end: int, *, first: bool) -> bytes | None:
    """``buf[start:end]`` (items of a list, after its ``[`` if ``first``, else after an
    item) as a JSON list; None if a continuation does not start with one ``,``."""
    if first:
        return b"[" + buf[start:end] + b"]"
    position = start
    while position < end and buf[position] in _WS:
        position += 1
    if position == end:
        return b"[]"
    if buf[position] != 0x2C:
        return None
    rest = buf[position + 1 : end]
    if not rest.strip(_WS):
        return None
    return b"[" + rest + b"]"


def _last_key(skeleton: bytearray) -> bytes | None:
    """The key of the value that starts at the end of an object's ``skeleton``."""
    text = bytes(skeleton).rstrip(_WS)
    if not text.endswith(b":"):
        raise InvalidExport("The file is not valid JSON (a value where a key was expected).")
    text = text[:-1].rstrip(_WS)
    if not text.endswith(b'"'):
        raise InvalidExport("The file is not valid JSON (a value where a key was expected).")
    close = len(text) - 1
    opening = text.rfind(b'"', 0, close)
    while opening > 0 and _escaped_at(text, opening):
        opening = text.rfind(b'"', 0, opening)
    if opening < 0:  # pragma: no cover - a closing quote always has an opening one
        raise InvalidExport("The file is not valid JSON (a value where a key was expected).")
    raw = text[opening : close + 1]
    if b"\\" not in raw:
        return raw[1:-1]
    try:
        key = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return key.encode("utf-8", "surrogatepass") if type(key) is str else None


def _escaped_at(text: bytes, position: int) -> bool:
    run = 0
    while position - run - 1 >= 0 and text[position - run - 1] == 0x5C:
        run += 1
    return bool(run & 1)


def _check_counts(value: object, max_items: int) -> None:
    """Every container under ``value`` holds at most ``max_items`` items."""
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            if len(node) > max_items:
                raise InvalidExport(
                    f"An object in the export has more than {max_items} fields; "
                    "a Skype export has none like it."
                )
            stack.extend(v for v in node.values() if type(v) in (dict, list))
        elif type(node) is list:
            if len(node) > max_items:
                raise InvalidExport(
                    f"A list in the export has more than {max_items} items; "
                    "a Skype export has none like it."
                )
            stack.extend(v for v in node if type(v) in (dict, list))


def _too_deep(max_depth: int) -> InvalidExport:
    return InvalidExport(
        f"The JSON is nested more than {max_depth} levels deep; a Skype export is not."
    )


def _lenient(data: bytes, error: Exception) -> Any:
    """JSON that orjson refused only for a lone surrogate escape (``"\\ud83d"``, an emoji
    cut in half), decoded by the standard library with each lone surrogate replaced by
    U+FFFD; None when that was not the reason."""
    if b"\\u" not in data or "surrogate" not in str(error):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        document = json.loads(text, parse_constant=refuse)
    except ValueError:
        return None
    return _replace_surrogates(document)


def _replace_surrogates(value: Any) -> Any:
    if type(value) is str:
        if value.isascii():
            return value
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if type(value) is list:
        return [_replace_surrogates(item) for item in value]
    if type(value) is dict:
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def _decode_error(data: bytes, offset: int, detail: str) -> InvalidExport:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InvalidExport(f"The file is not valid UTF-8 text (near byte {offset + exc.start}).")
    first_line = detail.splitlines()[0] if detail else "unreadable"
    first_line = first_line.split(": line ")[0]
    return InvalidExport(f"The file is not valid JSON ({first_line.strip()}, near byte {offset}).")
