"""A document's kind comes from its bytes; the name only breaks ties between text kinds."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from samples import documents as samples
from services.ingest.worker.documents.kinds import DocumentKind, parse_kind
from services.ingest.worker.documents.sniffing import HEAD_BYTES, sniff_bytes, sniff_path

K = DocumentKind


def xlsx_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["a", "b"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"a": [1, 2]}).write_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", samples.KINDS)
def test_every_sample_kind_is_recognised_even_under_a_wrong_name(tmp_path: Path, kind: str) -> None:
    data = samples.sample(kind, 1).data
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    expected = K(kind)
    assert sniff_path(path, f"report.{kind}") is expected
    if not expected.is_text:
        assert sniff_path(path, "report.txt") is expected
        assert sniff_path(path, None) is expected


@pytest.mark.parametrize(
    ("data", "kind"),
    [(xlsx_bytes(), K.XLSX), (parquet_bytes(), K.PARQUET)],
    ids=["xlsx", "parquet"],
)
def test_table_containers(tmp_path: Path, data: bytes, kind: DocumentKind) -> None:
    path = tmp_path / "x"
    path.write_bytes(data)
    assert sniff_path(path, "x.csv") is kind


def test_a_docx_is_told_from_its_first_and_last_bytes() -> None:
    data = samples.sample("docx", 2).data
    assert len(data) > 2 * HEAD_BYTES // 4
    assert sniff_bytes(data[:4096], data[-65536:]) is K.DOCX


@pytest.mark.parametrize(
    ("text", "filename", "kind"),
    [
        (b'[{"a": 1}]', None, K.JSON),
        (b'  {"a": {"b": [1, 2]}}', "x.txt", K.JSON),
        (b"<!DOCTYPE html><html><body><p>x</p></body></html>", None, K.HTML),
        (b"<!-- c --><html lang=en><p>x</p>", None, K.HTML),
        (b"id,name\n1,Ann\n2,Bob\n", None, K.CSV),
        (b"id;name\n1;Ann\n2;Bob\n", None, K.CSV),
        (b"# Title\n\nSome *text* and a [link](http://x).\n\n- item\n", None, K.MD),
        (b"Just a few plain words.\nAnd another line.\n", None, K.TXT),
        (b"Just a few plain words.\n", "notes.md", K.MD),
        (b"Plain, with a comma.\nAnd, another.\n", "letter.txt", K.TXT),
        (b"<p>a fragment</p>", "frag.html", K.HTML),
        ("Caf\u00e9 cr\u00e8me, d\u00e9j\u00e0 vu.\n".encode(), None, K.TXT),
        ("Caf\u00e9 cr\u00e8me".encode("cp1252"), None, K.TXT),
        ("\ufeffUTF-16 text here\n".encode("utf-16"), None, K.TXT),
    ],
)
def test_text_kinds(text: bytes, filename: str | None, kind: DocumentKind) -> None:
    assert sniff_bytes(text, filename=filename, complete=True) is kind


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
        b"MZ\x90\x00\x03" + b"\x00" * 100,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
        b"PK\x03\x04" + b"\x00" * 26 + b"random.bin",
        b"",
    ],
    ids=["elf", "exe", "png", "plain-zip", "empty"],
)
def test_other_files_are_not_documents(data: bytes) -> None:
    assert sniff_bytes(data, filename="innocent.pdf", complete=True) is None


def test_a_cut_multibyte_character_at_the_end_of_a_partial_read_is_still_text() -> None:
    data = ("\u0416" * 100).encode()[:-1]  # the last character cut in half
    assert sniff_bytes(data, complete=False) is K.TXT


@pytest.mark.parametrize(
    ("name", "kind"),
    [("PDF", K.PDF), (".docx", K.DOCX), ("markdown", K.MD), ("htm", K.HTML), ("doc", None)],
)
def test_format_names(name: str, kind: DocumentKind | None) -> None:
    assert parse_kind(name) is kind
