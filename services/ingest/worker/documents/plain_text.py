"""Plain text: decoding a user's bytes, and paragraphs (blocks) out of text."""

from __future__ import annotations

import re

from services.ingest.worker.documents.errors import DocumentRejected

_BLANK_LINE = re.compile(r"\n[ \t\f\v]*\n")
_SPACES = re.compile(r"\s+")


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 (which decodes any
    byte); NUL bytes mean this is no text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentRejected("the text is not valid UTF-16") from exc
    if b"\x00" in data:
        raise DocumentRejected("the file is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def normalise_space(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def text_blocks(text: str) -> list[str]:
    """Paragraphs: separated by blank lines; the lines inside one are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [block for part in _BLANK_LINE.split(text) if (block := normalise_space(part))]
