"""The prose of a document as paragraphs (blocks), whatever its kind."""

from __future__ import annotations

from pathlib import Path

from services.ingest.worker.documents.archives import inspect_archive
from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.kinds import PROSE_KINDS, DocumentKind
from services.ingest.worker.documents.limits import DocumentLimits
from services.ingest.worker.documents.markup import html_blocks, markdown_blocks
from services.ingest.worker.documents.office_text import docx_blocks, odt_blocks
from services.ingest.worker.documents.pdf_text import pdf_blocks
from services.ingest.worker.documents.plain_text import decode_text, text_blocks


def extract_blocks(path: Path, kind: DocumentKind, limits: DocumentLimits) -> list[str]:
    """The document's paragraphs, headings, list items and table rows, in order,
    cut after ``limits.max_text_chars`` characters."""
    if kind not in PROSE_KINDS:
        raise DocumentRejected(f"text cannot be extracted from a {kind} file")
    if kind in (DocumentKind.DOCX, DocumentKind.ODT):
        inspect_archive(path, limits.archive)
        blocks = docx_blocks(path) if kind is DocumentKind.DOCX else odt_blocks(path)
    elif kind is DocumentKind.PDF:
        blocks = pdf_blocks(path, max_pages=limits.max_pdf_pages, max_chars=limits.max_text_chars)
    else:
        data = _read_bounded(path, limits.max_text_chars * 4)
        if kind is DocumentKind.HTML:
            blocks = html_blocks(data)
        elif kind is DocumentKind.MD:
            blocks = markdown_blocks(decode_text(data))
        else:
            blocks = text_blocks(decode_text(data))
    return _bounded(blocks, limits.max_text_chars)


def blocks_to_text(blocks: list[str]) -> str:
    """Plain text with a blank line between paragraphs (it reads back block by block)."""
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _read_bounded(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit)


def _bounded(blocks: list[str], max_chars: int) -> list[str]:
    kept: list[str] = []
    total = 0
    for block in blocks:
        if total + len(block) > max_chars:
            if remaining := max_chars - total:
                kept.append(block[:remaining])
            break
        kept.append(block)
        total += len(block)
    return kept
