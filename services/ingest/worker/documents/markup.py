"""HTML and Markdown: text blocks out of HTML, and Markdown rendered to HTML.

HTML is parsed by lxml's HTML parser with no network and without the huge-tree
option (its own guard against oversized nodes); scripts, styles and the head are
dropped. Markdown is CommonMark (markdown-it) with tables and strikethrough; raw HTML
in it is escaped, not passed through, so a converted file carries no script.
"""

from __future__ import annotations

import codecs
import html
import re
from functools import lru_cache

import lxml.html
from lxml import etree
from markdown_it import MarkdownIt

from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.plain_text import decode_text, normalise_space

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    ]
)
_DROPPED_TAGS = ("script", "style", "noscript", "template", "head", "iframe", "object", "svg")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)
_BREAK = "\u2029"  # a paragraph separator that no document text uses as such

_DOCUMENT = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: "DejaVu Sans", sans-serif; line-height: 1.5; max-width: 46em;
       margin: 2em auto; padding: 0 1em; color: #1f2328; }}
pre, code {{ font-family: "DejaVu Sans Mono", monospace; background: #f6f8fa; }}
pre {{ padding: .8em; white-space: pre-wrap; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #d0d7de; padding: .3em .6em; }}
blockquote {{ margin-left: 0; padding-left: 1em; border-left: .25em solid #d0d7de; }}
</style>
</head>
<body>
{body}</body>
</html>
"""


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def decode_html(data: bytes) -> str:
    """The HTML's own ``<meta charset>`` if it names a known codec, else as text."""
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(codecs.lookup(declared.group(1).decode()).name, errors="replace")
        except LookupError:
            pass
    return decode_text(data)


def html_blocks(data: bytes | str) -> list[str]:
    """The text of an HTML document, one string per block-level element."""
    parser = lxml.html.HTMLParser(
        no_network=True, remove_comments=True, remove_pis=True, huge_tree=False
    )
    if isinstance(data, bytes):
        data = decode_html(data)
    if not data.strip():
        return []
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise DocumentRejected("the HTML document cannot be parsed") from exc
    for element in list(root.iter(*_DROPPED_TAGS)):
        element.drop_tree()
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif tag in _BLOCK_TAGS:
            element.text = _BREAK + (element.text or "")
            element.tail = _BREAK + (element.tail or "")
        elif tag in ("td", "th"):
            element.tail = "\t" + (element.tail or "")
    text = root.text_content()
    return [block for part in text.split(_BREAK) if (block := normalise_space(part))]


def markdown_to_html_body(text: str) -> str:
    return str(_markdown().render(text))


def markdown_to_html_document(text: str) -> str:
    """A complete, self-contained HTML page for a Markdown text."""
    body = markdown_to_html_body(text)
    return _DOCUMENT.format(lang="en", title=html.escape(_title(text)), body=body)


def text_to_html_document(text: str) -> str:
    """Plain text as an HTML page that keeps its lines (for rendering to PDF)."""
    body = f'<pre style="background: none; padding: 0">{html.escape(text)}</pre>\n'
    return _DOCUMENT.format(lang="en", title="", body=body)


def markdown_blocks(text: str) -> list[str]:
    return html_blocks(markdown_to_html_body(text) or "<p></p>")


def _title(markdown: str) -> str:
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()[:200]
    return "Document"
