"""Documents rendered to PDF by WeasyPrint (HTML and CSS layout, BSD licence; it needs
the system's Pango), and Markdown rendered to HTML.

WeasyPrint fetches nothing: only ``data:`` URIs are allowed, so a document's
``<img src="file:///etc/passwd">`` or ``http://169.254.169.254/`` leads nowhere.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.kinds import DocumentKind
from services.ingest.worker.documents.markup import (
    decode_html,
    markdown_to_html_document,
    text_to_html_document,
)
from services.ingest.worker.documents.plain_text import decode_text

# WeasyPrint reports every refused resource and unsupported CSS property as a warning.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def load_weasyprint() -> Any:
    """The weasyprint module (importing it loads Pango: ``OSError`` when absent)."""
    with warnings.catch_warnings():
        # "HarfBuzz-Subset will be required by future versions": a notice for
        # packagers (Debian libharfbuzz-subset0), not a fault.
        warnings.simplefilter("ignore", DeprecationWarning)
        import weasyprint

    return weasyprint


def html_for(source: Path, kind: DocumentKind, max_bytes: int) -> str:
    with source.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentRejected(f"the document is larger than {max_bytes // (1024 * 1024)} MB")
    if kind is DocumentKind.HTML:
        return decode_html(data)
    if kind is DocumentKind.MD:
        return markdown_to_html_document(decode_text(data))
    if kind is DocumentKind.TXT:
        return text_to_html_document(decode_text(data))
    raise DocumentRejected(f"a {kind} file cannot be rendered as HTML")


def render_pdf(html: str, destination: Path) -> None:
    weasyprint = load_weasyprint()
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    try:
        weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf(destination)
    except RecursionError as exc:
        raise DocumentRejected("the document is nested too deeply to lay out") from exc


def markdown_to_html_file(source: Path, destination: Path, max_bytes: int) -> None:
    destination.write_text(html_for(source, DocumentKind.MD, max_bytes), encoding="utf-8")
