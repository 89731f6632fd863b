"""Which kind a document is, from its bytes (never from its name alone).

Binary kinds are told by their signatures: ``%PDF-``, Parquet's ``PAR1`` magic, and
for zip containers the names of their members (OOXML's ``word/document.xml`` or
``xl/workbook.xml``, ODF's stored ``mimetype`` member). Text is decoded (UTF-8,
UTF-16 with a BOM) and classified by content: JSON, HTML, CSV, Markdown, plain text.
For text, the file name's extension breaks ties when the content is compatible with
it (any text is valid Markdown; a ``.csv`` must still look like a table).

:func:`sniff_bytes` works on the first and last bytes of an upload (what a streaming
upload keeps: a zip's central directory is at its end); :func:`sniff_path` on a file.
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path, PurePath

from services.ingest.worker.documents.kinds import DocumentKind, parse_kind

HEAD_BYTES = 64 * 1024
TAIL_BYTES = 64 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_ODF_MIMETYPES = {b"application/vnd.oasis.opendocument.text": DocumentKind.ODT}
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_TAG = re.compile(
    r"<(html|head|body|div|p|h[1-6]|table|ul|ol|span|a|br|meta|title)\b[^>]*>", re.I
)
_MARKDOWN_SIGNS = re.compile(
    r"^(#{1,6}\s+\S|```|~~~|\s{0,3}[-*+]\s+\S|\s{0,3}\d+[.)]\s+\S|>\s|\|.*\|\s*$)"
    r"|\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*",
    re.M,
)


def sniff_path(path: Path, filename: str | None = None) -> DocumentKind | None:
    """The kind of the file at ``path`` (``filename``: the name its owner gave it)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        if size > HEAD_BYTES:
            handle.seek(max(HEAD_BYTES, size - TAIL_BYTES))
            tail = handle.read()
        else:
            tail = b""
    if head.startswith(_ZIP_MAGIC):
        return _zip_kind_from_file(path) or _zip_kind(head, tail)
    return sniff_bytes(head, tail, filename, complete=size <= HEAD_BYTES)


def sniff_bytes(
    head: bytes, tail: bytes = b"", filename: str | None = None, *, complete: bool = False
) -> DocumentKind | None:
    """The kind of a document whose first bytes are ``head`` and last bytes ``tail``
    (``complete``: ``head`` is the whole document). None: not an accepted kind."""
    if not head:
        return None
    if head[:1024].lstrip(b"\r\n\t ").startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return DocumentKind.PDF
    if head.startswith(b"PAR1") and (tail or head).endswith(b"PAR1"):
        return DocumentKind.PARQUET
    if head.startswith(_ZIP_MAGIC):
        return _zip_kind(head, tail)
    text = _decode(head, complete=complete)
    if text is None:
        return None
    return _text_kind(text, _extension_kind(filename))


def _zip_kind_from_file(path: Path) -> DocumentKind | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    mimetype = member.read(100).strip()
                if mimetype in _ODF_MIMETYPES:
                    return _ODF_MIMETYPES[mimetype]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    return _ooxml_kind(names)


def _ooxml_kind(names: set[str] | bytes) -> DocumentKind | None:
    def has(name: str) -> bool:
        return name in names if isinstance(names, set) else name.encode() in names

    if not has("[Content_Types].xml"):
        return None
    if has("word/document.xml"):
        return DocumentKind.DOCX
    if has("xl/workbook.xml"):
        return DocumentKind.XLSX
    return None


def _zip_kind(head: bytes, tail: bytes) -> DocumentKind | None:
    """From raw bytes: ODF stores ``mimetype`` first and uncompressed (offset 30);
    OOXML's member names are in the central directory at the end (and usually in the
    local headers at the start)."""
    if head[30:38] == b"mimetype":
        for mimetype, kind in _ODF_MIMETYPES.items():
            if head[38 : 38 + len(mimetype)] == mimetype:
                return kind
        return None
    return _ooxml_kind(head + tail)


def _decode(data: bytes, *, complete: bool) -> str | None:
    """Text if ``data`` is text (UTF-8 or UTF-16 with a BOM, or a legacy 8-bit
    encoding without control characters), else None."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return (
                None
                if complete
                else data[: len(data) - len(data) % 2].decode("utf-16", errors="ignore")
            )
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of a partial read is still UTF-8.
        if not complete and exc.start >= len(data) - 3:
            text = data[: exc.start].decode("utf-8-sig")
        else:
            text = data.decode("cp1252", errors="replace")
    controls = sum(1 for c in text[:HEAD_BYTES] if ord(c) < 32 and c not in "\t\n\r\f")
    return None if controls > max(2, len(text) // 1000) else text


def _extension_kind(filename: str | None) -> DocumentKind | None:
    if not filename:
        return None
    suffix = PurePath(filename).suffix
    kind = parse_kind(suffix) if suffix else None
    return kind if kind is not None and kind.is_text else None


def _text_kind(text: str, hinted: DocumentKind | None) -> DocumentKind:
    stripped = text.lstrip("\ufeff \t\r\n")
    # Structure the content declares itself (JSON, an HTML document) beats a name that
    # says "text"; between the looser kinds, the name decides.
    if stripped[:1] in ("{", "[") and _looks_like_json(stripped) and hinted is not DocumentKind.CSV:
        return DocumentKind.JSON
    if _HTML_START.match(stripped.encode("utf-8", "replace")[:4096]):
        return DocumentKind.HTML
    if hinted is not None and _compatible(hinted, stripped):
        return hinted
    if len(_MARKDOWN_SIGNS.findall(stripped[:HEAD_BYTES])) >= 2:
        return DocumentKind.MD
    if _looks_like_csv(stripped):
        return DocumentKind.CSV
    return DocumentKind.TXT


def _compatible(kind: DocumentKind, text: str) -> bool:
    if kind in (DocumentKind.TXT, DocumentKind.MD):
        return True
    if kind is DocumentKind.JSON:
        return text[:1] in ("{", "[") and _looks_like_json(text)
    if kind is DocumentKind.HTML:
        return _HTML_TAG.search(text[:HEAD_BYTES]) is not None
    return _looks_like_csv(text)


def _looks_like_json(text: str) -> bool:
    # A cheap structural look at the start: the worker parses the whole file later.
    body = text[1:200].lstrip()
    return body[:1] in ('"', "{", "[", "]", "}") or body[:1].isdigit() or body[:1] in "-tfn"


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text[:16_384].splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    if len(lines) > 2:
        lines = lines[:-1]  # the last line of a partial read may be cut
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        return False
    rows = list(csv.reader(lines, dialect))
    widths = {len(row) for row in rows}
    return len(widths) == 1 and widths.pop() >= 2
