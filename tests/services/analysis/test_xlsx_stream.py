"""The streaming workbook writer, read back by openpyxl and by calamine (fastexcel)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import fastexcel
import openpyxl
import pytest

from services.analysis.service.xlsx_stream import (
    MAX_CELL_CHARS,
    ByteSink,
    Column,
    Kind,
    XlsxStream,
    column_letter,
    safe_text,
)

COLUMNS = [
    Column("Text", Kind.TEXT),
    Column("When", Kind.DATE),
    Column("Count", Kind.NUMBER),
    Column("Flag", Kind.BOOL),
]
WHEN = datetime(2024, 1, 15, 10, 30, 5, tzinfo=UTC)


def build(rows: list[list[object]]) -> bytes:
    sink = ByteSink()
    out = io.BytesIO()
    book = XlsxStream(sink, sheet_count=2)
    book.open_sheet("Chat Messages", COLUMNS)
    book.write_rows(rows)
    out.write(sink.take())
    book.open_sheet("Summary", [Column("", Kind.ANY), Column("", Kind.ANY)], header=False)
    book.write_raw_row(["Total", len(rows)])
    book.close()
    out.write(sink.take())
    return out.getvalue()


def test_cells_are_typed_and_the_header_frozen_and_filtered() -> None:
    data = build([["hello", WHEN, 150, True], ["bye", None, 2.5, False]])
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Chat Messages", "Summary"]
    sheet = book["Chat Messages"]
    assert [c.value for c in sheet[1]] == ["Text", "When", "Count", "Flag"]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:D3"
    text, when, count, flag = sheet[2]
    assert (text.value, text.data_type) == ("hello", "s")
    assert when.is_date
    assert when.value == WHEN.replace(tzinfo=None)
    assert (count.value, count.data_type) == (150, "n")
    assert (flag.value, flag.data_type) == (True, "b")
    assert sheet["B3"].value is None
    assert sheet["C3"].value == 2.5
    assert list(book["Summary"].values) == [("Total", 2)]
    # calamine reads the same types.
    frame = fastexcel.read_excel(data).load_sheet(0).to_polars()
    assert frame.columns == ["Text", "When", "Count", "Flag"]
    assert frame["Count"].to_list() == [150.0, 2.5]
    assert frame["Flag"].to_list() == [True, False]


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+1 555 0100",
        "-2+3",
        "@SUM(A1:A2)",
        "\tcmd",
        "\rcmd",
    ],
)
def test_formula_looking_text_stays_text(text: str) -> None:
    data = build([[text, None, None, None]])
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Chat Messages"]
    cell = sheet["A2"]
    assert cell.data_type == "s"
    assert cell.value == "'" + text
    assert cell.hyperlink is None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in xml
        assert b"hyperlink" not in xml
        assert not any(n.endswith("sheet1.xml.rels") for n in archive.namelist())


def test_text_is_escaped_cleaned_and_bounded() -> None:
    rows = [
        ["<b>&amp;</b> \"q\" 'a'", None, None, None],
        ["bell\x07 nul\x00 ok", None, None, None],
        ["x" * (MAX_CELL_CHARS + 50), None, None, None],
        ["literal _x0041_ stays", None, None, None],
        ["Привет 你好 🙂", None, None, None],
    ]
    data = build(rows)
    frame = fastexcel.read_excel(data).load_sheet(0).to_polars()
    values = frame["Text"].to_list()
    assert values[0] == "<b>&amp;</b> \"q\" 'a'"
    assert values[1] == "bell nul ok"
    assert len(values[2]) == MAX_CELL_CHARS - 1
    assert values[3] == "literal _x0041_ stays"
    assert values[4] == "Привет 你好 🙂"


def test_bytes_leave_before_the_workbook_is_complete() -> None:
    sink = ByteSink()
    book = XlsxStream(sink, sheet_count=1)
    book.open_sheet("Chat Messages", COLUMNS)
    head = sink.take()
    assert head.startswith(b"PK")
    assert b"[Content_Types].xml" in head
    book.write_rows([[f"row {i} " * 20, WHEN, i, i % 2 == 0] for i in range(20_000)])
    assert len(sink.take()) > 50_000  # compressed rows already out, the sheet still open
    book.close()
    assert sink.take()


def test_safe_text_and_letters() -> None:
    assert safe_text("=1+1") == "'=1+1"
    assert safe_text("hello = world") == "hello = world"
    assert safe_text("") == ""
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]
