"""Every conversion pair produces a file whose content is checked with a reader that is
not the converter: PDFium's plain text API for PDFs, python-docx and lxml for office
files, openpyxl for workbooks, the csv module and orjson for text tables."""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from pathlib import Path
from typing import Any

import docx
import lxml.html
import openpyxl
import orjson
import polars as pl
import pytest
from lxml import etree

from samples import documents as samples
from services.ingest.worker.documents.converters import CONVERSIONS, supported_pairs
from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.kinds import TABLE_KINDS, DocumentKind
from services.ingest.worker.documents.processor import DocumentProcessor
from tests.services.ingest.worker.documents.conftest import normalised, pdf_text

K = DocumentKind
PROSE_PAIRS = sorted((a, b) for a, b in CONVERSIONS if not (a.is_table and b.is_table))
TABLE_PAIRS = sorted((a, b) for a, b in CONVERSIONS if a in TABLE_KINDS and b in TABLE_KINDS)
SEED = 11


def write_sample(tmp_path: Path, kind: DocumentKind, seed: int = SEED) -> tuple[Path, Any]:
    document = samples.sample(str(kind), seed, sections=3, paragraphs=4)
    path = tmp_path / document.name
    path.write_bytes(document.data)
    return path, document.text


def docx_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def odt_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        root = etree.fromstring(archive.read("content.xml"))
    paragraphs = root.iter(
        "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}p",
        "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}h",
    )
    return "\n".join("".join(p.itertext()) for p in paragraphs)


def html_text(path: Path) -> str:
    return str(lxml.html.fromstring(path.read_bytes()).text_content())


def read_back(path: Path, kind: DocumentKind) -> str:
    if kind is K.PDF:
        return pdf_text(path)
    if kind is K.DOCX:
        return docx_text(path)
    if kind is K.ODT:
        return odt_text(path)
    if kind is K.HTML:
        return html_text(path)
    return path.read_text(encoding="utf-8")


def needs_libreoffice(
    request: pytest.FixtureRequest, source: DocumentKind, target: DocumentKind
) -> None:
    if CONVERSIONS[(source, target)] == "libreoffice":
        request.getfixturevalue("libreoffice")


@pytest.mark.parametrize(("source", "target"), PROSE_PAIRS, ids=lambda k: str(k))
async def test_prose_conversion_keeps_every_word(
    request: pytest.FixtureRequest,
    processor: DocumentProcessor,
    tmp_path: Path,
    source: DocumentKind,
    target: DocumentKind,
    no_leftovers: None,
) -> None:
    needs_libreoffice(request, source, target)
    path, text = write_sample(tmp_path, source)
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, source, target, workdir, filename=path.name)
        assert converted.kind is target
        output = tmp_path / f"converted.{target}"
        converted.path.replace(output)
    content = normalised(read_back(output, target))
    assert normalised(text.title) in content
    for section in text.sections:
        assert normalised(section.heading) in content
        for paragraph in section.paragraphs:
            assert normalised(paragraph) in content, (source, target, paragraph[:60])
    for cell in text.table[1]:
        assert cell in content


async def test_office_to_text_keeps_paragraphs_apart(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    """docx -> txt: one paragraph per block, a table row per line with tab-separated cells."""
    path, text = write_sample(tmp_path, K.DOCX)
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, K.DOCX, K.TXT, workdir)
        blocks = converted.path.read_text(encoding="utf-8").split("\n\n")
    assert blocks[0] == text.title
    assert blocks[1] == text.sections[0].heading
    assert blocks[2] == text.sections[0].paragraphs[0]
    assert "\t".join(text.table[1]) in blocks


async def test_markdown_to_html_is_structured(processor: DocumentProcessor, tmp_path: Path) -> None:
    path, text = write_sample(tmp_path, K.MD)
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, K.MD, K.HTML, workdir)
        page = lxml.html.fromstring(converted.path.read_bytes())
    assert page.findtext(".//title") == text.title
    assert page.findtext(".//h1") == text.title
    assert [h.text_content() for h in page.iter("h2")] == [s.heading for s in text.sections]
    assert [p.text_content() for p in page.iter("p")] == text.paragraphs
    assert [c.text_content() for c in page.iter("th")] == list(text.table[0])


async def test_markdown_raw_html_is_escaped_not_passed_through(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path = tmp_path / "x.md"
    path.write_text("# Title\n\n<script>alert(1)</script>\n\nText with <b>tags</b>.\n")
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, K.MD, K.HTML, workdir)
        page = converted.path.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


async def test_unsupported_pair_lists_the_supported_ones(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path, _ = write_sample(tmp_path, K.PDF)
    async with processor.workspace() as workdir:
        with pytest.raises(DocumentRejected) as raised:
            await processor.convert(path, K.PDF, K.DOCX, workdir)
    assert "pdf cannot be converted to docx" in raised.value.reason
    assert "docx->pdf" in raised.value.reason
    assert raised.value.reason.endswith(", ".join(supported_pairs()))


async def test_a_file_that_is_not_its_declared_kind_is_refused(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path, _ = write_sample(tmp_path, K.PDF)
    async with processor.workspace() as workdir:
        with pytest.raises(DocumentRejected, match="the file is a pdf, not docx"):
            await processor.convert(path, K.DOCX, K.TXT, workdir)


# -- tables ---------------------------------------------------------------------------

COLUMNS = ("id", "name", "score", "city", "note")
ROWS: list[tuple[Any, ...]] = [
    (
        i,
        f'Row {i}, "quoted"',
        round(i * 1.25, 2),
        ["Kyiv", "Zürich", "São Paulo"][i % 3],
        None if i % 4 else f"n{i}",
    )
    for i in range(1, 41)
]


def write_table(path: Path, kind: DocumentKind) -> None:
    """The source table, written by libraries other than the converter's writer where
    one exists (parquet: polars is the only Parquet writer at hand)."""
    if kind is K.CSV:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(["" if v is None else v for v in row] for row in ROWS)
    elif kind is K.XLSX:
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.append(COLUMNS)
        for row in ROWS:
            sheet.append(row)
        workbook.save(path)
    elif kind is K.JSON:
        path.write_bytes(orjson.dumps([dict(zip(COLUMNS, row, strict=True)) for row in ROWS]))
    else:
        pl.DataFrame(ROWS, schema=list(COLUMNS), orient="row").write_parquet(path)


def read_table(path: Path, kind: DocumentKind) -> list[tuple[Any, ...]]:
    if kind is K.CSV:
        with path.open(newline="", encoding="utf-8") as handle:
            header, *rows = list(csv.reader(handle))
        assert tuple(header) == COLUMNS
        return [tuple(rows_value or None for rows_value in row) for row in rows]
    if kind is K.XLSX:
        sheet = openpyxl.load_workbook(path, read_only=True).active
        assert sheet is not None
        header, *rows = list(sheet.iter_rows(values_only=True))
        assert tuple(header) == COLUMNS
        return [tuple(row) for row in rows]
    if kind is K.JSON:
        records = orjson.loads(path.read_bytes())
        assert isinstance(records, list)
        assert tuple(records[0]) == COLUMNS
        return [tuple(record[c] for c in COLUMNS) for record in records]
    frame = pl.read_parquet(path)
    assert tuple(frame.columns) == COLUMNS
    return [tuple(row) for row in frame.iter_rows()]


def canonical(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


@pytest.mark.parametrize(("source", "target"), TABLE_PAIRS, ids=lambda k: str(k))
async def test_table_conversion_keeps_every_cell(
    processor: DocumentProcessor,
    tmp_path: Path,
    source: DocumentKind,
    target: DocumentKind,
    no_leftovers: None,
) -> None:
    path = tmp_path / f"table.{source}"
    write_table(path, source)
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, source, target, workdir)
        output = tmp_path / f"converted.{target}"
        converted.path.replace(output)
    assert converted.details["rows"] == len(ROWS)
    assert converted.details["columns"] == len(COLUMNS)
    got = [tuple(canonical(v) for v in row) for row in read_table(output, target)]
    expected = [tuple(canonical(v) for v in row) for row in ROWS]
    assert got == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}',
        b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n',
    ],
    ids=["object-holding-an-array", "newline-delimited"],
)
async def test_json_shapes_become_tables(
    processor: DocumentProcessor, tmp_path: Path, body: bytes
) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(body)
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, K.JSON, K.CSV, workdir)
        assert converted.path.read_text().splitlines() == ["a,b", "1,x", "2,y"]


async def test_nested_json_values_become_json_text_in_csv(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path = tmp_path / "nested.json"
    path.write_bytes(orjson.dumps([{"id": 1, "tags": ["a", "b"], "meta": {"k": 1}}]))
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, K.JSON, K.CSV, workdir)
        rows = list(csv.reader(io.StringIO(converted.path.read_text())))
    assert rows[0] == ["id", "tags", "meta"]
    assert orjson.loads(rows[1][1]) == ["a", "b"]
    assert orjson.loads(rows[1][2]) == {"k": 1}


async def test_a_csv_that_is_no_table_is_refused_with_a_reason(
    processor: DocumentProcessor, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'[{"a": 1}, {"a": ')
    async with processor.workspace() as workdir:
        with pytest.raises(DocumentRejected, match="cannot be read as a table"):
            await processor.convert(path, K.JSON, K.CSV, workdir)
