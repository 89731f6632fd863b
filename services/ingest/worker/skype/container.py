"""The upload as Skype produced it: a ``.tar`` holding ``messages.json`` (and ``media/``),
or a bare ``messages.json``; either may arrive gzip-compressed. Decided by content
(magic bytes), never by the file name.

Nothing is extracted to disk. The tar headers are read by a small reader of our own, not
``tarfile``: tarfile reads pax and GNU long-name headers whole into memory whatever size
they claim, and follows no limit we could set. Every member is checked before
messages.json is read, so a bad member anywhere refuses the archive:

- names: no absolute path, no ``..`` component, no drive letter or backslash root;
- types: regular files and directories only (no symlinks, hardlinks, devices, FIFOs,
  sparse or multi-volume members);
- counts and sizes: members, header sizes, messages.json size, and for gzip the bytes it
  expands to and its ratio to the compressed bytes read (tar and gzip bombs).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.limits import MIB, ParseLimits
from services.ingest.worker.skype.streams import ByteSource

BLOCK = 512
MESSAGES_JSON = "messages.json"

_OTHER_FORMATS = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_REGULAR = (b"0", b"\x00", b"7")
_HIGH_BYTES = bytes(range(128, 256))
_REFUSED_TYPES = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a FIFO",
    b"S": "a sparse file",
    b"M": "a multi-volume continuation",
}


class MessagesStream:
    """messages.json as a readable byte stream (``read(n)``), with progress figures.

    ``size`` is messages.json's length when known (tar member or bare file), else None.
    ``bytes_read`` counts bytes of messages.json handed out. ``progress()`` is the share
    of the uploaded file consumed (0..1), right for every layout, gzip included.
    """

    def __init__(
        self, source: ByteSource, size: int | None, position: _Position, total: int
    ) -> None:
        self._source = source
        self._remaining = size
        self.size = size
        self.bytes_read = 0
        self._position = position
        self._total = total

    def read(self, size: int = -1, /) -> bytes:
        remaining = self._remaining
        if remaining is not None:
            if remaining <= 0:
                return b""
            size = remaining if size < 0 else min(size, remaining)
        data = self._source.read(size)
        if remaining is not None:
            if not data:
                raise InvalidExport(
                    "The tar archive ends inside messages.json: the upload is truncated."
                )
            self._remaining = remaining - len(data)
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:
        return True

    def progress(self) -> float:
        if self._total <= 0:
            return 1.0
        return min(1.0, self._position() / self._total)


class _Position(Protocol):
    def __call__(self) -> int: ...


class _GuardedGzip:
    """A gzip layer read through limits: total expanded bytes and expansion ratio."""

    def __init__(self, raw: IO[bytes], limits: ParseLimits) -> None:
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self._limits = limits
        self.expanded = 0

    def read(self, size: int = -1, /) -> bytes:
        limits = self._limits
        if size < 0:
            size = limits.chunk_bytes
        try:
            data = self._gzip.read(size)
        except EOFError as exc:
            raise InvalidExport("The gzip data ends early: the upload is truncated.") from exc
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise InvalidExport(f"The gzip data is corrupt ({exc}).") from exc
        self.expanded += len(data)
        if self.expanded > limits.max_uncompressed_bytes:
            raise InvalidExport(
                "The compressed upload expands to more than "
                f"{limits.max_uncompressed_bytes // MIB} MB; refused as a decompression bomb."
            )
        if self.expanded > limits.ratio_grace_bytes:
            consumed = max(1, self._raw.tell())
            if self.expanded / consumed > limits.max_compression_ratio:
                raise InvalidExport(
                    "The compressed upload expands more than "
                    f"{limits.max_compression_ratio:g} times; refused as a decompression bomb."
                )
        return data


@dataclass(frozen=True, slots=True)
class _Member:
    name: str
    kind: bytes
    size: int
    data_offset: int


class _TarReader:
    """Header by header over a tar stream: pax (``x``/``g``) and GNU long names (``L``/
    ``K``) applied, each bounded; data skipped by seek (plain file) or read (gzip)."""

    def __init__(self, source: ByteSource, limits: ParseLimits, *, seek: IO[bytes] | None):
        self._source = source
        self._limits = limits
        self._seek = seek
        self.offset = 0

    def _read_exact(self, size: int, what: str) -> bytes:
        parts = []
        remaining = size
        while remaining > 0:
            data = self._source.read(min(remaining, 1 * MIB))
            if not data:
                raise InvalidExport(f"The tar archive ends inside {what}: the upload is truncated.")
            parts.append(data)
            remaining -= len(data)
        self.offset += size
        return b"".join(parts)

    def _skip(self, size: int, what: str) -> None:
        if size <= 0:
            return
        if self._seek is not None:
            end = self.offset + size
            if end > os.fstat(self._seek.fileno()).st_size:
                raise InvalidExport(f"The tar archive ends inside {what}: the upload is truncated.")
            self._seek.seek(end)
            self.offset = end
            return
        remaining = size
        while remaining > 0:
            data = self._source.read(min(remaining, 1 * MIB))
            if not data:
                raise InvalidExport(f"The tar archive ends inside {what}: the upload is truncated.")
            remaining -= len(data)
        self.offset += size

    def members(self) -> Iterator[_Member]:
        limits = self._limits
        long_name: str | None = None
        pax: dict[str, str] = {}
        count = 0
        while True:
            header = self._source.read(BLOCK)
            if not header:
                return  # no end-of-archive blocks: accepted, as GNU tar does
            if len(header) < BLOCK:
                header += self._source.read(BLOCK - len(header))
                if len(header) < BLOCK:
                    raise InvalidExport("The tar archive ends inside a header: it is truncated.")
            self.offset += BLOCK
            if header == b"\x00" * BLOCK:
                return
            _check_checksum(header, count)
            kind = header[156:157]
            size = _number(header[124:136], "size")
            padded = -(-size // BLOCK) * BLOCK
            if kind in (b"x", b"g", b"L", b"K"):
                if size > limits.max_tar_header_bytes:
                    raise InvalidExport(
                        f"The tar archive has a {size}-byte extended header; refused "
                        f"(more than {limits.max_tar_header_bytes} bytes)."
                    )
                data = self._read_exact(padded, "an extended header")[:size]
                if kind == b"x":
                    pax.update(_pax_records(data))
                elif kind == b"L":
                    long_name = data.split(b"\x00", 1)[0].decode("utf-8", "replace")
                continue  # 'g' (global) and 'K' (long link name) carry nothing we use
            count += 1
            if count > limits.max_tar_members:
                raise InvalidExport(
                    f"The tar archive has more than {limits.max_tar_members} members."
                )
            name = pax.get("path") or long_name or _header_name(header)
            if "size" in pax:
                try:
                    size = int(pax["size"])
                except ValueError as exc:
                    raise InvalidExport("The tar archive has a corrupt size field.") from exc
                padded = -(-size // BLOCK) * BLOCK
            long_name, pax = None, {}
            yield _Member(name, kind, size, self.offset)
            self._skip(padded, f"the member {name!r}")


def _check_checksum(header: bytes, index: int) -> None:
    try:
        stored = _number(header[148:156], "checksum")
    except InvalidExport:
        stored = -1
    outside = header[:148] + header[156:]
    unsigned = sum(outside) + 8 * 32
    # Some old writers summed signed chars: each byte above 127 counts 256 less.
    signed = unsigned - 256 * (len(outside) - len(outside.translate(None, _HIGH_BYTES)))
    if stored not in (unsigned, signed):
        what = "the first header" if index == 0 else f"the header after member {index}"
        raise InvalidExport(f"The tar archive is corrupt (bad checksum in {what}).")


def _number(field: bytes, what: str) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\x00", 1)[0].strip(b" \x00")
    if not text:
        return 0
    try:
        value = int(text, 8)
    except ValueError as exc:
        raise InvalidExport(f"The tar archive has a corrupt {what} field.") from exc
    return value


def _header_name(header: bytes) -> str:
    name = header[0:100].split(b"\x00", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\x00", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "replace")


def _pax_records(data: bytes) -> dict[str, str]:
    """``"<len> key=value\\n"`` records (POSIX.1-2001)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        if space < 0:
            break
        try:
            length = int(data[position:space])
        except ValueError as exc:
            raise InvalidExport("The tar archive has a corrupt extended header.") from exc
        if length <= 0 or position + length > len(data):
            raise InvalidExport("The tar archive has a corrupt extended header.")
        record = data[space + 1 : position + length].rstrip(b"\n")
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        position += length
    return records


def normalise_member_name(name: str) -> str:
    """The member's path with ``./`` and empty components removed; ``InvalidExport`` for
    an absolute path or one that climbs out of the archive."""
    if "\x00" in name:
        raise InvalidExport(f"The tar archive has a member name with a NUL byte ({name!r}).")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise InvalidExport(f"The tar archive has an absolute member path ({name!r}); refused.")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidExport(f"The tar archive has a member path with '..' ({name!r}); refused.")
    return "/".join(parts)


def _sniff(head: bytes) -> str:
    """``gzip``, ``tar``, ``json`` or ``InvalidExport`` naming what it is instead."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if len(head) >= BLOCK and _is_v7_tar_header(head[:BLOCK]):
        return "tar"
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    body = body.lstrip(b" \t\r\n")
    if body[:1] in (b"{", b"["):
        return "json"
    if not head:
        raise InvalidExport("The file is empty.")
    for magic, label in _OTHER_FORMATS:
        if head.startswith(magic):
            raise InvalidExport(
                f"The file is {label}; a Skype export is the .tar Skype produced "
                "(or its messages.json)."
            )
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InvalidExport("The file is UTF-16 text; Skype exports are UTF-8 JSON.")
    raise InvalidExport("The file is neither a .tar archive nor JSON, so it is not a Skype export.")


def _is_v7_tar_header(block: bytes) -> bool:
    if block == b"\x00" * BLOCK or not block[:1].strip(b"\x00"):
        return False
    try:
        _check_checksum(block, 0)
    except InvalidExport:
        return False
    return True


def _find_messages_json(reader: _TarReader) -> _Member:
    found: _Member | None = None
    names: list[str] = []
    for member in reader.members():
        name = normalise_member_name(member.name)
        refused = _REFUSED_TYPES.get(member.kind)
        if refused is not None:
            raise InvalidExport(f"The tar archive holds {refused} ({member.name!r}); refused.")
        if member.kind == b"5":
            continue
        if member.kind not in _REGULAR:
            raise InvalidExport(
                f"The tar archive holds a member of unsupported type {member.kind!r} "
                f"({member.name!r}); refused."
            )
        if len(names) < 5:
            names.append(name)
        if name == MESSAGES_JSON:
            if found is not None:
                raise InvalidExport("The tar archive holds two messages.json; refused.")
            found = member
    if found is None:
        listed = ", ".join(names) if names else "nothing"
        raise InvalidExport(
            f"The tar archive has no messages.json at its top level (it holds {listed}); "
            "is this a Skype export?"
        )
    return found


@contextmanager
def open_messages_json(path: Path, limits: ParseLimits | None = None) -> Iterator[MessagesStream]:
    """messages.json of the upload at ``path`` as a stream; ``InvalidExport`` for anything
    that is not a readable Skype export container."""
    limits = limits or ParseLimits()
    with open(path, "rb") as raw:
        total = os.fstat(raw.fileno()).st_size
        head = raw.read(BLOCK * 2)
        raw.seek(0)
        kind = _sniff(head)
        if kind == "gzip":
            yield _open_gzip(path, raw, limits, total)
            return
        if kind == "json":
            yield MessagesStream(raw, total, raw.tell, total)
            return
        member = _find_messages_json(_TarReader(raw, limits, seek=raw))
        if member.size > limits.max_uncompressed_bytes:
            raise InvalidExport("messages.json in the archive is larger than the limit.")
        raw.seek(member.data_offset)
        yield MessagesStream(raw, member.size, raw.tell, total)


def _open_gzip(path: Path, raw: IO[bytes], limits: ParseLimits, total: int) -> MessagesStream:
    layer = _GuardedGzip(raw, limits)
    head = layer.read(BLOCK * 2)
    if head[:2] == b"\x1f\x8b":
        raise InvalidExport("The file is compressed twice; upload the .tar Skype produced.")
    kind = _sniff(head)
    raw.seek(0)
    layer = _GuardedGzip(raw, limits)
    if kind == "json":
        return MessagesStream(layer, None, raw.tell, total)
    member = _find_messages_json(_TarReader(layer, limits, seek=None))
    # Second pass: the member's data, reached by reading (gzip cannot seek).
    raw.seek(0)
    layer = _GuardedGzip(raw, limits)
    skipped = 0
    while skipped < member.data_offset:
        data = layer.read(min(member.data_offset - skipped, 1 * MIB))
        if not data:
            raise InvalidExport("The tar archive ends early: the upload is truncated.")
        skipped += len(data)
    return MessagesStream(layer, member.size, raw.tell, total)
