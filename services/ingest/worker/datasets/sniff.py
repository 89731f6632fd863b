"""What a file really is, from its bytes, checked against the name it was uploaded under.

Standard library only: the upload route uses it on the first bytes of a stream
(``identify_head``) and the worker on the whole file (``identify_file``, which also
reads a zip's directory, so an ``.xlsx`` that is a zip of something else is refused).
"""

from __future__ import annotations

import codecs
import zipfile
from enum import StrEnum
from pathlib import Path, PurePath

from services.ingest.worker.datasets.errors import DatasetRefused

HEAD_BYTES = 8192
"""How much of a file ``identify_head`` needs to decide."""


class DatasetKind(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    XLS = "xls"
    ODS = "ods"
    PARQUET = "parquet"


EXTENSIONS: dict[str, DatasetKind] = {
    ".csv": DatasetKind.CSV,
    ".tsv": DatasetKind.CSV,
    ".tab": DatasetKind.CSV,
    ".txt": DatasetKind.CSV,
    ".xlsx": DatasetKind.XLSX,
    ".xlsm": DatasetKind.XLSX,
    ".xls": DatasetKind.XLS,
    ".ods": DatasetKind.ODS,
    ".parquet": DatasetKind.PARQUET,
    ".pq": DatasetKind.PARQUET,
}

# Content classes that are never datasets, with the words a person understands.
_FOREIGN_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "gzip-compressed data (upload the uncompressed file)"),
    (b"BZh", "bzip2-compressed data (upload the uncompressed file)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (upload the uncompressed file)"),
    (b"(\xb5/\xfd", "zstd-compressed data (upload the uncompressed file)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable program"),
    (b"MZ", "a Windows executable"),
    (b"ARROW1", "an Arrow IPC file (export it as Parquet)"),
]
_ZIP = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PARQUET = b"PAR1"
_TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

_DESCRIPTIONS = {
    DatasetKind.CSV: "CSV text",
    DatasetKind.XLSX: "an Excel workbook (.xlsx)",
    DatasetKind.XLS: "an Excel 97-2003 workbook (.xls)",
    DatasetKind.ODS: "an OpenDocument spreadsheet (.ods)",
    DatasetKind.PARQUET: "a Parquet file",
}
SUPPORTED = "CSV (.csv, .tsv, .txt), Excel (.xlsx, .xlsm, .xls), OpenDocument (.ods), Parquet"


def kind_from_name(filename: str) -> DatasetKind | None:
    """The kind the file's extension promises; None when it has none. Refuses an
    extension that names no dataset format."""
    suffix = PurePath(filename).suffix.lower()
    if not suffix:
        return None
    try:
        return EXTENSIONS[suffix]
    except KeyError:
        raise DatasetRefused(
            "unsupported_file_type",
            f"{suffix} files are not datasets Quarry reads; upload {SUPPORTED}.",
        ) from None


def content_class(head: bytes) -> str:
    """``zip``, ``ole2``, ``parquet``, ``text``, ``empty``, or a description of a
    foreign format (``"a PNG image"``)."""
    if not head:
        return "empty"
    if head.startswith((_ZIP, _EMPTY_ZIP)):
        return "zip"
    if head.startswith(_OLE2):
        return "ole2"
    if head.startswith(_PARQUET):
        return "parquet"
    if head.startswith(_TEXT_BOMS) or _looks_like_utf16(head):
        return "text"
    for magic, description in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return description
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive"
    return "text" if _looks_like_text(head) else "binary data"


def identify_head(head: bytes, filename: str) -> DatasetKind:
    """The dataset kind from the first ``HEAD_BYTES`` bytes and the name; refuses a
    file whose bytes contradict its name. A zip's contents are checked later, by
    ``identify_file``."""
    promised = kind_from_name(filename)
    found = content_class(head)
    name = PurePath(filename).name or "the file"
    if found == "empty":
        raise DatasetRefused("empty_file", f"{name} is empty.")
    kind = _kind_of_class(found, promised)
    if kind is None:
        code = "unsupported_content" if promised is None else "content_mismatch"
        raise DatasetRefused(code, _mismatch(name, promised, found))
    if promised is not None and kind != promised:
        raise DatasetRefused("content_mismatch", _mismatch(name, promised, found))
    return kind


def identify_file(path: Path, filename: str) -> DatasetKind:
    """``identify_head`` plus the checks that need the whole file: a zip must hold a
    workbook (or an OpenDocument spreadsheet) and a Parquet file must end with its
    footer magic."""
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    kind = identify_head(head, filename)
    name = PurePath(filename).name or "the file"
    if kind in (DatasetKind.XLSX, DatasetKind.ODS):
        inner = _zip_spreadsheet_kind(path)
        if inner is None:
            raise DatasetRefused(
                "not_a_workbook",
                f"{name} is a zip archive that holds no spreadsheet "
                "(no xl/workbook.xml or OpenDocument content).",
            )
        promised = kind_from_name(filename)
        if promised is not None and inner != promised:
            raise DatasetRefused(
                "content_mismatch",
                f"{name} is named {promised.value} but is {_DESCRIPTIONS[inner]}.",
            )
        kind = inner
    elif kind == DatasetKind.PARQUET:
        size = path.stat().st_size
        with path.open("rb") as stream:
            stream.seek(max(0, size - 4))
            tail = stream.read(4)
        if size < 12 or tail != _PARQUET:
            raise DatasetRefused(
                "truncated_parquet",
                f"{name} starts like a Parquet file but its footer is missing "
                "(the file is truncated or damaged).",
            )
    return kind


def _kind_of_class(found: str, promised: DatasetKind | None) -> DatasetKind | None:
    if found == "text":
        return DatasetKind.CSV
    if found == "parquet":
        return DatasetKind.PARQUET
    if found == "ole2":
        return DatasetKind.XLS
    if found == "zip":
        # Which spreadsheet a zip holds is decided from its directory (identify_file).
        return promised if promised in (DatasetKind.XLSX, DatasetKind.ODS) else None
    return None


def _mismatch(name: str, promised: DatasetKind | None, found: str) -> str:
    described = {
        "zip": "a zip archive",
        "ole2": "an OLE2 compound file (an Excel 97-2003 workbook, a password-protected "
        "workbook or another Office format)",
        "parquet": "a Parquet file",
        "text": "plain text",
    }.get(found, found)
    if promised is None:
        return f"{name} holds {described}, not a dataset; upload {SUPPORTED}."
    return f"{name} is named {promised.value} but holds {described}, not {_DESCRIPTIONS[promised]}."


def _zip_spreadsheet_kind(path: Path) -> DatasetKind | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                return DatasetKind.XLSX
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:100]
                if mimetype.strip() == b"application/vnd.oasis.opendocument.spreadsheet":
                    return DatasetKind.ODS
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    return None


def _looks_like_utf16(head: bytes) -> bool:
    """Text in UTF-16 without a BOM: NUL bytes in most even or most odd positions."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 4:
        return False
    pairs = len(sample) // 2
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    return max(even_nuls, odd_nuls) >= 0.4 * pairs and min(even_nuls, odd_nuls) <= 0.05 * pairs


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)
        return True
    except UnicodeDecodeError:
        pass
    # An 8-bit encoding (cp1251, latin-1, ...): printable bytes with few controls.
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return controls <= len(head) * 0.01
