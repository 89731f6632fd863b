"""Bad uploads, for the tests of every layer that must refuse them.

Each ``write_<case>(path)`` writes one file and returns ``path``. ``HOSTILE`` maps a case
name to its writer; every case must be refused with a clear reason, in bounded memory and
time. Large cases (a 200 MB string, the bombs) are generated on the fly, streamed: they
cost disk, not memory.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from samples.skype import write_export

MIB = 1024 * 1024
_HEAD = (
    b'{"userId":"8:live:.cid.0123456789abcdef","exportDate":"2020-07-06T20:55","conversations":['
)
_CONVERSATION = b'{"id":"8:live:.cid.aaaa","displayName":"Ana","MessageList":['
_MESSAGE = (
    b'{"id":"1594056032374","displayName":null,"originalarrivaltime":"2020-07-06T17:20:30.609Z",'
    b'"messagetype":"RichText","version":1594056032374,"conversationid":"8:live:.cid.aaaa",'
    b'"from":"8:live:.cid.aaaa","properties":null,"amsreferences":null,"content":'
)


def _valid_json(messages: int = 200, seed: int = 7) -> bytes:
    buffer = io.BytesIO()
    path = Path(tempfile.gettempdir()) / f"quarry-hostile-{os.getpid()}-{seed}.json"
    try:
        write_export(path, messages, bare=True, seed=seed)
        buffer.write(path.read_bytes())
    finally:
        path.unlink(missing_ok=True)
    return buffer.getvalue()


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                archive.addfile(info)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = 1_600_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _gzip_members(path: Path, head: bytes, fill: int, tail: bytes) -> Path:
    """``head``, ``fill`` spaces and ``tail``, gzip-compressed as concatenated gzip members
    (a valid gzip file; a 1 MiB member of spaces is compressed once and repeated), so that
    a bomb of a GiB is written in milliseconds."""
    block = gzip.compress(b" " * MIB, compresslevel=9, mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(head, mtime=0))
        for _ in range(fill // MIB):
            out.write(block)
        out.write(gzip.compress(b" " * (fill % MIB) + tail, mtime=0))
    return path


# -- JSON ---------------------------------------------------------------------------------


def write_truncated_json(path: Path) -> Path:
    data = _valid_json()
    path.write_bytes(data[: len(data) * 3 // 5])
    return path


def write_truncated_tar(path: Path) -> Path:
    full = path.with_name(path.name + ".full")
    write_export(full, 300, seed=3)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_not_skype_json(path: Path) -> Path:
    path.write_bytes(b'{"name": "not a skype export", "items": [1, 2, 3], "nested": {"a": null}}')
    return path


def write_json_list(path: Path) -> Path:
    path.write_bytes(b'[{"id": 1}, {"id": 2}]')
    return path


def write_wrong_types(path: Path) -> Path:
    """Skype's keys with the wrong types: conversations is an object."""
    path.write_bytes(
        b'{"userId": "8:x", "exportDate": "2020-07-06T20:55", "conversations": {"a": 1}}'
    )
    return path


def write_not_json(path: Path) -> Path:
    path.write_bytes(b"date,from,text\n2020-07-06,ana,hello\n" * 50)
    return path


def write_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def write_zip(path: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("messages.json", _valid_json(20))
    return path


def write_utf16(path: Path) -> Path:
    path.write_bytes(_valid_json(20).decode("utf-8").encode("utf-16"))
    return path


def write_invalid_utf8(path: Path) -> Path:
    data = _valid_json()
    at = data.index(b'"content":"', len(data) // 2) + len(b'"content":"')
    path.write_bytes(data[:at] + b"\xff\xfe\xc3\x28" + data[at:])
    return path


def write_deep_nesting(path: Path, depth: int = 100_000) -> Path:
    """A message whose content is nested ``depth`` arrays deep."""
    with open(path, "wb") as out:
        out.write(_HEAD + _CONVERSATION + _MESSAGE)
        out.write(b"[" * depth + b"]" * depth)
        out.write(b"}]}]}")
    return path


def write_deep_nesting_root(path: Path, depth: int = 100_000) -> Path:
    path.write_bytes(b'{"userId":' + b"[" * depth + b"]" * depth + b"}")
    return path


def write_huge_string(path: Path, size: int = 200 * MIB) -> Path:
    """One message whose content is a ``size``-byte string (streamed, never in memory)."""
    with open(path, "wb") as out:
        out.write(_HEAD + _CONVERSATION + _MESSAGE + b'"')
        block = b"abcdefghij" * (MIB // 10)
        written = 0
        while written < size:
            part = block[: min(len(block), size - written)]
            out.write(part)
            written += len(part)
        out.write(b'"}]}]}')
    return path


def write_huge_escaped_string(path: Path, size: int = 64 * MIB) -> Path:
    """A long string made of escaped quotes (defeats a naive quote scan)."""
    with open(path, "wb") as out:
        out.write(_HEAD + _CONVERSATION + _MESSAGE + b'"')
        block = b'\\"' * (MIB // 2)
        for _ in range(size // len(block)):
            out.write(block)
        out.write(b'"}]}]}')
    return path


def write_many_fields(path: Path, fields: int = 300_000) -> Path:
    """One message object with ``fields`` distinct keys."""
    with open(path, "wb") as out:
        out.write(_HEAD + _CONVERSATION + b'{"id":"1"')
        for index in range(fields):
            out.write(b',"k%d":1' % index)
        out.write(b"}]}]}")
    return path


def write_long_list(path: Path, items: int = 300_000) -> Path:
    """A message whose properties hold a list of ``items`` entries."""
    with open(path, "wb") as out:
        out.write(_HEAD + _CONVERSATION + _MESSAGE + b'"hi","properties":{"emotions":[')
        out.write(b",".join([b"1"] * items))
        out.write(b"]}}]}]}")
    return path


def write_huge_number(path: Path, digits: int = 64 * MIB) -> Path:
    with open(path, "wb") as out:
        out.write(_HEAD + _CONVERSATION + b'{"id":')
        block = b"9" * MIB
        for _ in range(digits // MIB):
            out.write(block)
        out.write(b"}]}]}")
    return path


def write_trailing_garbage(path: Path) -> Path:
    path.write_bytes(_valid_json(20) + b"\n{}")
    return path


# -- tar ----------------------------------------------------------------------------------


def write_wrong_member_names(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(path, [(_info("Messages.JSON"), data), (_info("export/message.json"), data)])


def write_traversal_tar(path: Path) -> Path:
    return _tar(path, [(_info("../messages.json"), _valid_json(20))])


def write_traversal_inner_tar(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(path, [(_info("messages.json"), data), (_info("media/../../evil.sh"), b"x")])


def write_absolute_tar(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(path, [(_info("messages.json"), data), (_info("/etc/cron.d/evil"), b"x")])


def write_symlink_tar(path: Path) -> Path:
    return _tar(path, [(_info("messages.json", tarfile.SYMTYPE, linkname="/etc/passwd"), None)])


def write_hardlink_tar(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(
        path,
        [
            (_info("media/a.json"), data),
            (_info("messages.json", tarfile.LNKTYPE, linkname="media/a.json"), None),
        ],
    )


def write_device_tar(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(
        path,
        [
            (_info("messages.json"), data),
            (_info("dev/zero", tarfile.CHRTYPE, devmajor=1, devminor=5), None),
        ],
    )


def write_fifo_tar(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(
        path, [(_info("messages.json"), data), (_info("media/pipe", tarfile.FIFOTYPE), None)]
    )


def write_duplicate_messages_tar(path: Path) -> Path:
    data = _valid_json(20)
    return _tar(path, [(_info("messages.json"), data), (_info("./messages.json"), data)])


def write_huge_pax_header(path: Path, size: int = 8 * MIB) -> Path:
    """A pax extended header claiming ``size`` bytes (tarfile would read it whole)."""
    record = b"comment=" + b"x" * size + b"\n"
    length = len(record) + 1
    while len(str(length)) + 1 + len(record) != length:
        length = len(str(length)) + 1 + len(record)
    body = str(length).encode() + b" " + record
    header = _info("././@PaxHeader", tarfile.XHDTYPE)
    header.size = len(body)
    with open(path, "wb") as out:
        out.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        out.write(body + b"\x00" * (-len(body) % 512))
        data = _valid_json(20)
        info = _info("messages.json", size=len(data))
        out.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        out.write(data + b"\x00" * (-len(data) % 512))
        out.write(b"\x00" * 1024)
    return path


def write_many_members_tar(path: Path, members: int = 201_000) -> Path:
    data = _valid_json(20)
    with open(path, "wb") as out:
        info = _info("messages.json", size=len(data))
        out.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        out.write(data + b"\x00" * (-len(data) % 512))
        for index in range(members):
            out.write(_info(f"media/{index}.json", size=0).tobuf(format=tarfile.USTAR_FORMAT))
        out.write(b"\x00" * 1024)
    return path


def write_corrupt_tar_checksum(path: Path) -> Path:
    write_traversal_tar(path)  # any small tar
    data = bytearray(path.read_bytes())
    data[0:5] = b"zzzzz"
    path.write_bytes(bytes(data))
    return path


# -- bombs --------------------------------------------------------------------------------


def write_gzip_bomb(path: Path, expanded: int = 1024 * MIB) -> Path:
    """A bare messages.json, gzip-compressed, that expands ~1000x (to ``expanded`` bytes)."""
    return _gzip_members(path, _HEAD + _CONVERSATION, expanded, b"]}]}")


def write_tar_bomb(path: Path, expanded: int = 1024 * MIB) -> Path:
    """A .tar.gz whose messages.json member is ``expanded`` bytes of (valid) whitespace."""
    head, tail = _HEAD + _CONVERSATION, b"]}]}"
    size = len(head) + expanded + len(tail)
    header = _info("messages.json", size=size).tobuf(format=tarfile.USTAR_FORMAT)
    end = tail + b"\x00" * (-size % 512) + b"\x00" * 1024
    return _gzip_members(path, header + head, expanded, end)


def write_nested_gzip(path: Path) -> Path:
    inner = gzip.compress(_valid_json(20), mtime=0)
    path.write_bytes(gzip.compress(inner, mtime=0))
    return path


def write_corrupt_gzip(path: Path) -> Path:
    data = bytearray(gzip.compress(_valid_json(200), mtime=0))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return path


def write_zlib_not_gzip(path: Path) -> Path:
    path.write_bytes(zlib.compress(_valid_json(20)))
    return path


HOSTILE: dict[str, Callable[[Path], Path]] = {
    "truncated_json": write_truncated_json,
    "truncated_tar": write_truncated_tar,
    "not_skype_json": write_not_skype_json,
    "json_list": write_json_list,
    "wrong_types": write_wrong_types,
    "not_json": write_not_json,
    "empty": write_empty,
    "zip": write_zip,
    "utf16": write_utf16,
    "invalid_utf8": write_invalid_utf8,
    "deep_nesting": write_deep_nesting,
    "deep_nesting_root": write_deep_nesting_root,
    "huge_string": write_huge_string,
    "huge_escaped_string": write_huge_escaped_string,
    "many_fields": write_many_fields,
    "long_list": write_long_list,
    "huge_number": write_huge_number,
    "trailing_garbage": write_trailing_garbage,
    "wrong_member_names": write_wrong_member_names,
    "traversal_tar": write_traversal_tar,
    "traversal_inner_tar": write_traversal_inner_tar,
    "absolute_tar": write_absolute_tar,
    "symlink_tar": write_symlink_tar,
    "hardlink_tar": write_hardlink_tar,
    "device_tar": write_device_tar,
    "fifo_tar": write_fifo_tar,
    "duplicate_messages_tar": write_duplicate_messages_tar,
    "huge_pax_header": write_huge_pax_header,
    "many_members_tar": write_many_members_tar,
    "corrupt_tar_checksum": write_corrupt_tar_checksum,
    "gzip_bomb": write_gzip_bomb,
    "tar_bomb": write_tar_bomb,
    "nested_gzip": write_nested_gzip,
    "corrupt_gzip": write_corrupt_gzip,
    "zlib_not_gzip": write_zlib_not_gzip,
}
"""Every case; each must be refused with ``InvalidExport`` (the sync path: 400)."""
