"""The kind of an upload comes from its first bytes, never from its name."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from services.ingest.uploads.sniffing import sniff_kind
from tests.e2e.skype_helpers import tar_of


def zip_with(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"", "empty"),
        (tar_of({"messages.json": b"{}"}), "tar"),
        (gzip.compress(b"{}"), "gzip"),
        (b'\xef\xbb\xbf  {"userId": "8:x"}', "json"),
        (b'[{"a": 1}]', "json"),
        (zip_with("[Content_Types].xml", "xl/workbook.xml"), "xlsx"),
        (zip_with("[Content_Types].xml", "word/document.xml"), "docx"),
        (zip_with("notes.txt"), "zip"),
        (b"%PDF-1.7\n", "pdf"),
        (b"PAR1\x15\x04", "parquet"),
        (b"name,age\nann,3\nbob,4\n", "csv"),
        (b"just some words\nand more\n", "text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"\xff\xfe\x00\x01garbage", "binary"),
    ],
)
def test_kinds_are_sniffed_from_content(head: bytes, kind: str) -> None:
    assert sniff_kind(head[:8192]) == kind


def test_a_json_file_named_like_a_tar_is_still_json() -> None:
    # The name is never consulted: only bytes reach the sniffer.
    assert sniff_kind(b'{"conversations": []}') == "json"
