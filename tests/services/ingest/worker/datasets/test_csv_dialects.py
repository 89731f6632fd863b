# ruff: noqa: RUF001  (Cyrillic, accented letters and typographic quotes are the point)
"""CSV dialects and encodings are sniffed: every delimiter with every encoding reads to
the same table, quoted delimiters and newlines included."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest

from samples.datasets import hostile_csv_ragged
from tests.services.ingest.worker.datasets.conftest import column

ROWS = [
    ["city", "population", "note"],
    ["Москва", "12600000", 'capital, "big"'],
    ["Zürich", "421000", "line one\nline two"],
    ["São Paulo", "12300000", "café; naïve | tab\tinside"],
    ["Kraków", "800000", ""],
]
# cp1251 cannot encode Latin accents, latin-1 no Cyrillic: each gets rows it can hold.
CYRILLIC = [
    ["город", "население", "заметка"],
    ["Москва", "12600000", "столица, большая"],
    ["Казань", "1300000", "на Волге\nвторая строка"],
    ["Омск", "1100000", ""],
]
LATIN = [
    ["ville", "population", "note"],
    ["Zürich", "421000", "café, naïve"],
    ["São Paulo", "12300000", "façade\nsecond line"],
    ["Kraków", "800000", ""],
]


def encode(rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    def field(value: str) -> str:
        if any(ch in value for ch in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    text = "".join(delimiter.join(field(v) for v in row) + "\r\n" for row in rows)
    if encoding == "utf-8-bom":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    if encoding == "utf-16-le-nobom":
        return text.encode("utf-16-le")
    return text.encode(encoding)


ENCODINGS: list[tuple[str, list[list[str]], str]] = [
    ("utf-8", ROWS, "UTF-8"),
    ("utf-8-bom", ROWS, "UTF-8 with BOM"),
    ("utf-16", ROWS, "UTF-16LE with BOM"),
    ("utf-16-le-nobom", ROWS, "UTF-16LE"),
    ("cp1251", CYRILLIC, "windows-1251"),
    ("latin-1", LATIN, "ISO-8859-1 (Latin-1)"),
]


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"]
)
@pytest.mark.parametrize(("encoding", "rows", "label"), ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_every_dialect_and_encoding_reads_the_same_table(
    profile: Any, delimiter: str, encoding: str, rows: list[list[str]], label: str
) -> None:
    result = profile("cities.csv", encode(rows, delimiter, encoding))
    source = result.profile["source"]
    assert source["delimiter"] == delimiter
    assert source["encoding"] == label
    assert result.preview["columns"] == rows[0]
    expected = [[v if v != "" else None for v in row] for row in rows[1:]]
    assert result.preview["rows"] == expected
    assert result.profile["table"]["rows"] == len(rows) - 1
    assert column(result, rows[0][1])["semantic_type"] in ("integer", "identifier")
    assert result.profile["warnings"] == []


def test_windows_1252_punctuation_is_told_from_latin_1(profile: Any) -> None:
    data = "quote,who\n“Hello” – it’s fine,Ann\nCafé,Bob\n".encode("cp1252")
    result = profile("quotes.csv", data)
    assert result.profile["source"]["encoding"] == "windows-1252"
    assert result.preview["rows"][0] == ["“Hello” – it’s fine", "Ann"]


def test_koi8_r_is_recognised(profile: Any) -> None:
    data = "город,число\nмосква,1\nсанкт-петербург,2\nновосибирск,3\n".encode("koi8-r")
    result = profile("koi8.csv", data)
    assert result.profile["source"]["encoding"] == "KOI8-R"
    assert result.preview["rows"][1][0] == "санкт-петербург"


def test_ragged_rows_are_reported_not_fatal(profile: Any, tmp_path: Path) -> None:
    result = profile("ragged.csv", hostile_csv_ragged(tmp_path / "ragged.csv"))
    warnings = {w["code"]: w for w in result.profile["warnings"]}
    assert warnings["short_rows"]["rows"] == 1
    assert warnings["short_rows"]["examples"] == [{"row": 2, "fields": 2}]
    assert warnings["long_rows"]["rows"] == 2
    assert [e["row"] for e in warnings["long_rows"]["examples"]] == [3, 5]
    assert result.profile["table"]["rows"] == 6
    assert result.preview["rows"][1] == ["2", "Bob", None]
    assert result.preview["rows"][2] == ["3", "Cid", "4"]


def test_blank_lines_are_skipped_and_counted(profile: Any) -> None:
    result = profile("blank.csv", b"a,b\n1,2\n\n3,4\n\n\n5,6\n")
    assert result.preview["rows"] == [["1", "2"], ["3", "4"], ["5", "6"]]
    warning = next(w for w in result.profile["warnings"] if w["code"] == "blank_lines")
    assert warning["rows"] == 3


def test_unbalanced_quotes_fall_back_to_literal_quotes(profile: Any) -> None:
    result = profile("inches.csv", b'size,item\n5" screen,tv\n7,phone\n')
    assert result.preview["rows"] == [['5" screen', "tv"], ["7", "phone"]]
    assert any(w["code"] == "unbalanced_quotes" for w in result.profile["warnings"])


def test_headers_that_are_empty_or_repeated_are_renamed(profile: Any) -> None:
    result = profile("names.csv", b"price,,price\n1,2,3\n")
    assert result.preview["columns"] == ["price", "column_2", "price (2)"]
    assert sum(w["code"] == "renamed_column" for w in result.profile["warnings"]) == 2


def test_single_column_file(profile: Any) -> None:
    result = profile("one.txt", b"value\n1\n2\n3\n")
    assert result.preview["columns"] == ["value"]
    assert result.profile["table"]["rows"] == 3


def test_decimal_commas_in_a_semicolon_file(profile: Any) -> None:
    result = profile("eu.csv", b"Preis;Menge\n1,50;2\n2,25;3\n10,00;1\n")
    price = column(result, "Preis")
    assert price["semantic_type"] == "float"
    assert price["numeric"]["sum"] == pytest.approx(13.75)
    assert "decimal commas read as decimal points" in price["notes"]


def test_old_mac_line_endings(profile: Any) -> None:
    result = profile("mac.csv", b"a,b\r1,2\r3,4\r")
    assert result.preview["rows"] == [["1", "2"], ["3", "4"]]
