"""The operations a sandboxed child runs, by name (see :mod:`.sandbox`).

Each takes plain arguments (paths as strings, kinds as their names, the limits as
a :class:`.limits.DocumentLimits`) and returns a JSON-able value; it raises
:class:`.errors.DocumentRejected` for a document it cannot process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.etree
import pypdfium2

from services.ingest.worker.documents.archives import inspect_archive
from services.ingest.worker.documents.kinds import DocumentKind
from services.ingest.worker.documents.limits import DocumentLimits
from services.ingest.worker.documents.parsing import (
    detect_language,
    sentences_with_keywords,
    top_keywords,
)
from services.ingest.worker.documents.pdf_text import open_pdf
from services.ingest.worker.documents.rendering import html_for, load_weasyprint, render_pdf
from services.ingest.worker.documents.sentences import split_sentences
from services.ingest.worker.documents.tables import convert_table
from services.ingest.worker.documents.text import blocks_to_text, extract_blocks
from services.ingest.worker.documents.tonality import analyse_tonality


def ping() -> str:
    return "pong"


def check_container(source: str, kind: str, limits: DocumentLimits) -> None:
    """Before LibreOffice opens a docx or odt: no zip bomb, no DTD, no encryption."""
    inspect_archive(Path(source), limits.archive)
    if DocumentKind(kind) is DocumentKind.PDF:
        open_pdf(Path(source)).close()


def to_text(source: str, kind: str, destination: str, limits: DocumentLimits) -> dict[str, Any]:
    blocks = extract_blocks(Path(source), DocumentKind(kind), limits)
    text = blocks_to_text(blocks)
    Path(destination).write_text(text, encoding="utf-8")
    return {"paragraphs": len(blocks), "characters": len(text)}


def to_pdf(source: str, kind: str, destination: str, limits: DocumentLimits) -> dict[str, Any]:
    html = html_for(Path(source), DocumentKind(kind), limits.max_output_bytes)
    render_pdf(html, Path(destination))
    return {}


def to_html(source: str, kind: str, destination: str, limits: DocumentLimits) -> dict[str, Any]:
    """Markdown rendered, or plain text wrapped, as a self-contained HTML page."""
    html = html_for(Path(source), DocumentKind(kind), limits.max_output_bytes)
    Path(destination).write_text(html, encoding="utf-8")
    return {}


def table(
    source: str, kind: str, destination: str, target: str, limits: DocumentLimits
) -> dict[str, Any]:
    return convert_table(
        Path(source), DocumentKind(kind), Path(destination), DocumentKind(target), limits
    )


def parse(source: str, kind: str, keywords: list[str], limits: DocumentLimits) -> dict[str, Any]:
    """The sentences containing ``keywords``, the document's top keywords and language."""
    blocks = extract_blocks(Path(source), DocumentKind(kind), limits)
    text = " ".join(blocks)
    language = detect_language(text)
    sentences = list(split_sentences(blocks, language["code"] or "en"))
    found, per_keyword = sentences_with_keywords(sentences, keywords)
    return {
        "count": len(found),
        "sentences": found,
        "keyword_counts": per_keyword,
        "sentence_total": len(sentences),
        "top_keywords": top_keywords(text, language["code"], limits.top_keywords),
        "language": language,
    }


def tonality(source: str, kind: str, limits: DocumentLimits) -> dict[str, Any]:
    blocks = extract_blocks(Path(source), DocumentKind(kind), limits)
    language = detect_language(" ".join(blocks))
    sentences = list(split_sentences(blocks, language["code"] or "en"))
    return {**analyse_tonality(sentences), "language": language}


def warm_up() -> None:
    """Load what every job would otherwise load again (models, lexicons, Pango)."""
    detect_language("warming up the language model")
    analyse_tonality(["A fine day."])
    with contextlib.suppress(OSError):  # no Pango: capabilities() says so
        load_weasyprint()


def capabilities() -> dict[str, Any]:
    """The versions of the in-process tools, None for one that cannot load."""
    import markdown_it
    import polars

    try:
        weasyprint: str | None = load_weasyprint().__version__
    except OSError:
        weasyprint = None
    return {
        "pdfium": str(pypdfium2.PDFIUM_INFO).split("@")[0],
        "weasyprint": weasyprint,
        "markdown-it": markdown_it.__version__,
        "text": "lxml " + ".".join(map(str, lxml.etree.LXML_VERSION[:3])),
        "polars": polars.__version__,
    }


OPERATIONS: dict[str, Callable[..., Any]] = {
    "ping": ping,
    "check_container": check_container,
    "to_text": to_text,
    "to_pdf": to_pdf,
    "to_html": to_html,
    "table": table,
    "parse": parse,
    "tonality": tonality,
    "capabilities": capabilities,
}
