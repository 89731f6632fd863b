"""Which text encoding a CSV file is in, and a UTF-8 copy when it is not UTF-8.

polars reads UTF-8 only. Order of decisions: a byte-order mark (UTF-8, UTF-16,
UTF-32); UTF-16 without a mark (NUL bytes in every other position); the whole
file validated as UTF-8 (streamed: ~0.1 s per 100 MB); else an 8-bit code page.
Cyrillic text in windows-1251 or KOI8-R puts its high bytes in runs (whole words),
Western text in windows-1252 / ISO-8859-1 mostly alone (``café``); anything else
goes to charset-normalizer.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from services.ingest.worker.datasets.errors import DatasetRefused

_CHUNK = 4 << 20
_SAMPLE = 256 << 10
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True)
class TextEncoding:
    codec: str
    """The Python codec that decodes the file (BOM included in ``utf-8-sig``, ``utf-16``)."""
    label: str
    """The name reported to people: ``UTF-8``, ``UTF-8 with BOM``, ``windows-1251``, ..."""

    @property
    def polars_reads_as_is(self) -> bool:
        return self.codec in ("utf-8", "utf-8-sig")


UTF8 = TextEncoding("utf-8", "UTF-8")
UTF8_BOM = TextEncoding("utf-8-sig", "UTF-8 with BOM")


def detect_encoding(path: Path) -> TextEncoding:
    with path.open("rb") as stream:
        head = stream.read(_SAMPLE)
    if head.startswith(codecs.BOM_UTF8):
        return UTF8_BOM if _is_utf8(path, skip=3) else _refuse_bad_bom(path)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return TextEncoding("utf-32", "UTF-32")
    if head.startswith(codecs.BOM_UTF16_LE):
        return TextEncoding("utf-16", "UTF-16LE with BOM")
    if head.startswith(codecs.BOM_UTF16_BE):
        return TextEncoding("utf-16", "UTF-16BE with BOM")
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return utf16
    if _is_utf8(path):
        return UTF8
    return _eight_bit(_non_ascii_sample(path))


def transcode_to_utf8(path: Path, encoding: TextEncoding, target: Path) -> Path:
    """``path`` decoded with ``encoding`` and written to ``target`` as UTF-8 (streamed)."""
    decoder = codecs.getincrementaldecoder(encoding.codec)(errors="strict")
    try:
        with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
            while chunk := source.read(_CHUNK):
                out.write(decoder.decode(chunk))
            out.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise DatasetRefused(
            "undecodable_text",
            f"The file is not valid {encoding.label} text (byte {exc.start} of a chunk "
            "cannot be decoded); save it as UTF-8 and upload it again.",
        ) from None
    return target


def _is_utf8(path: Path, skip: int = 0) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as stream:
        stream.seek(skip)
        try:
            while chunk := stream.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _refuse_bad_bom(path: Path) -> TextEncoding:
    raise DatasetRefused(
        "undecodable_text",
        f"{path.name} starts with a UTF-8 byte-order mark but is not valid UTF-8 text.",
    )


def _utf16_without_bom(head: bytes) -> TextEncoding | None:
    sample = head[: len(head) - len(head) % 2]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    if odd_nuls >= 0.4 * pairs and even_nuls <= 0.05 * pairs:
        return TextEncoding("utf-16-le", "UTF-16LE")
    if even_nuls >= 0.4 * pairs and odd_nuls <= 0.05 * pairs:
        return TextEncoding("utf-16-be", "UTF-16BE")
    return None


def _non_ascii_sample(path: Path) -> bytes:
    """Up to ``_SAMPLE`` bytes of windows that start at non-ASCII bytes (a file's head
    is often pure ASCII: the header and the first rows)."""
    parts: list[bytes] = []
    size = 0
    with path.open("rb") as stream:
        while size < _SAMPLE and (chunk := stream.read(_CHUNK)):
            offset = 0
            while size < _SAMPLE and (found := _HIGH_BYTE.search(chunk, offset)):
                start = found.start()
                window = chunk[max(0, start - 64) : start + 65536]
                parts.append(window)
                size += len(window)
                offset = start + 65536
    return b"".join(parts)


def _eight_bit(sample: bytes) -> TextEncoding:
    high = [i for i, byte in enumerate(sample) if byte >= 0x80]
    if not high:
        return UTF8  # unreachable for a file that failed UTF-8; kept total
    in_runs = sum(
        1
        for i in high
        if (i > 0 and sample[i - 1] >= 0x80) or (i + 1 < len(sample) and sample[i + 1] >= 0x80)
    )
    if in_runs / len(high) > 0.5:
        cyrillic = _cyrillic(sample, high)
        if cyrillic is not None:
            return cyrillic
        return _charset_normalizer(sample)
    if any(0x80 <= sample[i] <= 0x9F for i in high):
        try:
            sample.decode("cp1252")
            return TextEncoding("cp1252", "windows-1252")
        except UnicodeDecodeError:
            return _charset_normalizer(sample)
    return TextEncoding("latin-1", "ISO-8859-1 (Latin-1)")


def _cyrillic(sample: bytes, high: list[int]) -> TextEncoding | None:
    """windows-1251 or KOI8-R when the high bytes decode to Cyrillic letters. Running text
    is mostly lowercase: 0xE0-0xFF in windows-1251, 0xC0-0xDF in KOI8-R."""
    text = sample.decode("cp1251", errors="replace")
    letters = [ch for ch in text if ord(ch) >= 0x80]
    if not letters or sum(1 for ch in letters if "\u0400" <= ch <= "\u04ff") < 0.9 * len(letters):
        return None
    upper_half = sum(1 for i in high if sample[i] >= 0xE0)
    lower_half = sum(1 for i in high if 0xC0 <= sample[i] < 0xE0)
    if lower_half > upper_half:
        return TextEncoding("koi8-r", "KOI8-R")
    return TextEncoding("cp1251", "windows-1251")


def _charset_normalizer(sample: bytes) -> TextEncoding:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise DatasetRefused(
            "undecodable_text",
            "The file's text encoding could not be recognised; save it as UTF-8 and upload "
            "it again.",
        )
    return TextEncoding(best.encoding, best.encoding)
