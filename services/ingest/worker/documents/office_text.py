"""Text out of word-processing documents, without an office suite: the body of a docx
(``word/document.xml``) and of an odt (``content.xml``), paragraph by paragraph, a
table row per line with its cells separated by tabs.

Call only after :func:`.archives.inspect_archive` has passed the container (no zip
bomb, no DTD). The XML parser resolves no entities, loads no DTD, touches no network
and keeps libxml2's default depth and size limits.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.plain_text import normalise_space

_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
# Parts of a docx run or paragraph that are not its visible text.
_DOCX_SKIPPED = frozenset({"pPr", "rPr", "del", "delText", "instrText", "tblPr", "sectPr"})
_ODF_SKIPPED = frozenset({"note", "annotation", "tracked-changes", "bookmark-ref"})


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _parse_member(path: Path, member: str) -> etree._Element:
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            return etree.parse(handle, etree.XMLParser(**_PARSER_OPTIONS)).getroot()
    except KeyError as exc:
        raise DocumentRejected(f"the document has no {member}") from exc
    except (etree.XMLSyntaxError, zipfile.BadZipFile, OSError) as exc:
        raise DocumentRejected(f"the document's {member} is not well-formed XML") from exc


def docx_blocks(path: Path) -> list[str]:
    """The paragraphs (and table rows) of a docx's main body."""
    return [b for b in _docx_blocks(_parse_member(path, "word/document.xml")) if b]


def _docx_blocks(element: etree._Element) -> Iterator[str]:
    for child in element:
        name = _local(child)
        if name == "p":
            text, nested = _docx_paragraph(child)
            yield normalise_space(text)
            yield from nested
        elif name == "tbl":
            yield from _docx_table(child)
        elif name not in _DOCX_SKIPPED:
            yield from _docx_blocks(child)


def _docx_paragraph(paragraph: etree._Element) -> tuple[str, list[str]]:
    """A paragraph's text, and the blocks of text boxes anchored in it."""
    parts: list[str] = []
    nested: list[str] = []

    def walk(element: etree._Element) -> None:
        for child in element:
            name = _local(child)
            if name in _DOCX_SKIPPED:
                continue
            if name == "t":
                parts.append(child.text or "")
            elif name == "tab":
                parts.append("\t")
            elif name in ("br", "cr"):
                parts.append("\n")
            elif name == "noBreakHyphen":
                parts.append("-")
            elif name == "txbxContent":
                nested.extend(b for b in _docx_blocks(child) if b)
            else:
                walk(child)

    walk(paragraph)
    return "".join(parts), nested


def _docx_table(table: etree._Element) -> Iterator[str]:
    for row in table.iter("{*}tr"):
        if row.getparent() is not table:
            continue  # rows of nested tables are read as their cell's text
        cells = [
            " ".join(b for b in _docx_blocks(cell) if b) for cell in row if _local(cell) == "tc"
        ]
        if any(cells):
            yield "\t".join(cells)


def odt_blocks(path: Path) -> list[str]:
    """The paragraphs, headings, list items and table rows of an odt's body."""
    root = _parse_member(path, "content.xml")
    body = next(root.iter("{*}body"), root)
    return [b for b in _odf_blocks(body) if b]


def _odf_blocks(element: etree._Element) -> Iterator[str]:
    for child in element:
        name = _local(child)
        if name in ("p", "h"):
            yield normalise_space(_odf_text(child))
        elif name == "table":
            yield from _odf_table(child)
        elif name not in _ODF_SKIPPED:
            yield from _odf_blocks(child)


def _odf_text(element: etree._Element) -> str:
    parts = [element.text or ""]
    for child in element:
        name = _local(child)
        if name == "s":
            count = child.get("{urn:oasis:names:tc:opendocument:xmlns:text:1.0}c") or "1"
            parts.append(" " * min(int(count) if count.isdigit() else 1, 1000))
        elif name == "tab":
            parts.append("\t")
        elif name == "line-break":
            parts.append("\n")
        elif name not in _ODF_SKIPPED:
            parts.append(_odf_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _odf_table(table: etree._Element) -> Iterator[str]:
    for row in table.iter("{*}table-row"):
        if _nearest_table(row) is not table:
            continue  # rows of nested tables are read as their cell's text
        cells = [
            " ".join(b for b in _odf_blocks(cell) if b)
            for cell in row
            if _local(cell) == "table-cell"
        ]
        if any(cells):
            yield "\t".join(cells)


def _nearest_table(element: etree._Element) -> etree._Element | None:
    parent = element.getparent()
    while parent is not None and _local(parent) != "table":
        parent = parent.getparent()
    return parent
