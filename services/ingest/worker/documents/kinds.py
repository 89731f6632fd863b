"""The document kinds the Files routes accept, with their content types and the
extensions a converted file gets."""

from __future__ import annotations

from enum import StrEnum


class DocumentKind(StrEnum):
    TXT = "txt"
    MD = "md"
    HTML = "html"
    CSV = "csv"
    JSON = "json"
    DOCX = "docx"
    XLSX = "xlsx"
    ODT = "odt"
    PDF = "pdf"
    PARQUET = "parquet"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]

    @property
    def extension(self) -> str:
        return self.value

    @property
    def is_text(self) -> bool:
        return self in TEXT_KINDS

    @property
    def is_table(self) -> bool:
        return self in TABLE_KINDS


CONTENT_TYPES: dict[DocumentKind, str] = {
    DocumentKind.TXT: "text/plain; charset=utf-8",
    DocumentKind.MD: "text/markdown; charset=utf-8",
    DocumentKind.HTML: "text/html; charset=utf-8",
    DocumentKind.CSV: "text/csv; charset=utf-8",
    DocumentKind.JSON: "application/json",
    DocumentKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocumentKind.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    DocumentKind.ODT: "application/vnd.oasis.opendocument.text",
    DocumentKind.PDF: "application/pdf",
    DocumentKind.PARQUET: "application/vnd.apache.parquet",
}

# Kinds whose bytes are text (sniffed by decoding, told apart by their content).
TEXT_KINDS = frozenset(
    {DocumentKind.TXT, DocumentKind.MD, DocumentKind.HTML, DocumentKind.CSV, DocumentKind.JSON}
)
# Kinds that hold one table.
TABLE_KINDS = frozenset(
    {DocumentKind.CSV, DocumentKind.XLSX, DocumentKind.PARQUET, DocumentKind.JSON}
)
# Kinds whose prose can be extracted (parse-file, tonality-analysis).
PROSE_KINDS = frozenset(
    {
        DocumentKind.TXT,
        DocumentKind.MD,
        DocumentKind.HTML,
        DocumentKind.DOCX,
        DocumentKind.ODT,
        DocumentKind.PDF,
    }
)

# How clients may name a format in a conversion request ("markdown", "htm", ...).
_ALIASES: dict[str, DocumentKind] = {
    "markdown": DocumentKind.MD,
    "htm": DocumentKind.HTML,
    "text": DocumentKind.TXT,
    "pq": DocumentKind.PARQUET,
}


def parse_kind(name: str) -> DocumentKind | None:
    """The kind a format name or extension denotes (case-insensitive, leading dot
    ignored), or None."""
    key = name.strip().lower().lstrip(".")
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return DocumentKind(key)
    except ValueError:
        return None
