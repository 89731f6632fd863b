"""What a file is, decided from its first bytes, never from its name or declared type.

:func:`sniff_kind` answers one of :data:`KINDS`. Purpose-specific callers narrow it
(a Skype upload maps ``tar``/``gzip`` to ``skype_tar`` and ``json`` to
``skype_json``); a kind they do not accept is refused before anything is processed.
"""

from __future__ import annotations

import re

# Enough for every signature below (tar's "ustar" sits at offset 257).
SNIFF_BYTES = 8192

KINDS = (
    "empty",
    "tar",
    "gzip",
    "bzip2",
    "xz",
    "zip",
    "xlsx",
    "docx",
    "ods",
    "odt",
    "xls",  # OLE2 compound file (legacy Excel / Word)
    "parquet",
    "pdf",
    "json",
    "csv",
    "text",
    "binary",
)

_UTF8_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _zip_kind(head: bytes) -> str:
    # The first local headers name the package's parts; Office and ODF put theirs first.
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head:
        return "ods"
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in head:
        return "odt"
    if b"xl/" in head:
        return "xlsx"
    if b"word/" in head:
        return "docx"
    return "zip"


def _is_tar(head: bytes) -> bool:
    if len(head) >= 262 and head[257:262] == b"ustar":
        return True
    # A pre-POSIX (v7) tar: a name, then octal fields and a checksum that adds up.
    if len(head) < 512:
        return False
    block = head[:512]
    try:
        stored = int(block[148:156].split(b"\x00")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == computed


def _utf16_text(head: bytes) -> bytes | None:
    """``head`` re-encoded as UTF-8 when it is UTF-16 text, else None. Text (a CSV above
    all: its delimiters, digits and newlines are ASCII) has NUL bytes in most of its
    high-byte positions and almost none in the others; a BOM lowers the bar."""
    bom = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    little = head[:2] == b"\xff\xfe" if bom else None
    sample = head[2:] if bom else head
    sample = sample[: len(sample) - len(sample) % 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    share = 0.1 if bom else 0.2
    if little is not False and odd >= share * pairs and even <= 0.05 * pairs:
        codec = "utf-16-le"
    elif little is not True and even >= share * pairs and odd <= 0.05 * pairs:
        codec = "utf-16-be"
    else:
        return None
    return sample.decode(codec, errors="ignore").encode("utf-8")


def _text_kind(head: bytes) -> str:
    body = head[len(_UTF8_BOM) :] if head.startswith(_UTF8_BOM) else head
    body = _utf16_text(body) or body
    stripped = body.lstrip(b" \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return "json"
    if _CONTROL.search(body):
        return "binary"
    # Text that is not UTF-8 but has no control characters in 8 KiB (binary data has
    # them) is text in an 8-bit code page (windows-1251, latin-1, ...): the worker
    # finds which. A cut multi-byte character at the end is no reason to refuse either.
    lines = [line for line in body.splitlines()[:6] if line.strip()]
    complete = lines[:-1] if len(lines) > 1 else lines  # the last may be cut
    for separator in (b",", b";", b"\t", b"|"):
        if complete and all(separator in line for line in complete):
            return "csv"
    return "text"


def sniff_kind(head: bytes) -> str:
    """The kind of a file whose first bytes (up to :data:`SNIFF_BYTES`) are ``head``."""
    if not head:
        return "empty"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(head)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if _is_tar(head):
        return "tar"
    return _text_kind(head)
