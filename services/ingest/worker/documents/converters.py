"""Which conversions exist, and which tool does each.

| tool | conversions | needs |
| --- | --- | --- |
| ``libreoffice`` | docx, odt -> pdf; docx <-> odt | Debian ``libreoffice-writer-nogui`` |
| ``weasyprint`` | txt, md, html -> pdf | Pango (Debian ``libpango-1.0-0``, ``libpangoft2-1.0-0``) |
| ``pdfium`` | pdf -> txt | the pypdfium2 wheel |
| ``text`` | docx, odt, html, md -> txt; txt -> html | lxml, markdown-it (wheels) |
| ``markdown-it`` | md -> html | the markdown-it-py wheel |
| ``polars`` | csv, xlsx, parquet, json, each to each | polars, fastexcel, xlsxwriter (wheels) |

LibreOffice was measured against the alternatives for what it does alone here (office
layout). For HTML to PDF, WeasyPrint gives browser-quality layout in about a second
(LibreOffice's HTML import: a 1.5 s process start, a word processor's idea of CSS;
xhtml2pdf: faster, poorer layout). PDFium extracts text about 30 times faster than
pypdf on the same files.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ingest.worker.documents.kinds import TABLE_KINDS, DocumentKind

K = DocumentKind


@dataclass(frozen=True)
class Tool:
    name: str
    needs: str  # what to install when it is missing


TOOLS = {
    "libreoffice": Tool("libreoffice", "Debian package libreoffice-writer-nogui"),
    "weasyprint": Tool("weasyprint", "Debian packages libpango-1.0-0 libpangoft2-1.0-0"),
    "pdfium": Tool("pdfium", "the pypdfium2 wheel (in the lockfile)"),
    "text": Tool("text", "lxml and markdown-it-py wheels (in the lockfile)"),
    "markdown-it": Tool("markdown-it", "the markdown-it-py wheel (in the lockfile)"),
    "polars": Tool("polars", "polars, fastexcel and xlsxwriter wheels (in the lockfile)"),
}

CONVERSIONS: dict[tuple[DocumentKind, DocumentKind], str] = {
    (K.DOCX, K.PDF): "libreoffice",
    (K.ODT, K.PDF): "libreoffice",
    (K.DOCX, K.ODT): "libreoffice",
    (K.ODT, K.DOCX): "libreoffice",
    (K.TXT, K.PDF): "weasyprint",
    (K.MD, K.PDF): "weasyprint",
    (K.HTML, K.PDF): "weasyprint",
    (K.PDF, K.TXT): "pdfium",
    (K.DOCX, K.TXT): "text",
    (K.ODT, K.TXT): "text",
    (K.HTML, K.TXT): "text",
    (K.MD, K.TXT): "text",
    (K.TXT, K.HTML): "text",
    (K.MD, K.HTML): "markdown-it",
    **{(a, b): "polars" for a in sorted(TABLE_KINDS) for b in sorted(TABLE_KINDS) if a != b},
}


def tool_for(source: DocumentKind, target: DocumentKind) -> str | None:
    return CONVERSIONS.get((source, target))


def supported_pairs() -> list[str]:
    """``"docx->pdf"``, ... in a stable order (for error messages and the docs)."""
    return sorted(f"{a}->{b}" for a, b in CONVERSIONS)
