"""Workbooks (xlsx, xlsm, xls, ods) through calamine (fastexcel), read safely.

Before calamine sees a zip-based workbook, every part is inflated here once, as a
stream with a running total (a zip bomb is refused at the limit, whatever sizes its
directory claims), and every XML part's prolog is checked for a document type
declaration: spreadsheets never need one, and it is where entity expansion ("billion
laughs") and external entities live. Formulas are read as their cached values, never
evaluated. Every sheet is listed; the first sheet with data is profiled.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import fastexcel
import polars as pl

from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.sniff import DatasetKind
from services.ingest.worker.datasets.table import LoadedTable, check_cells, check_shape, clean_names

_CHUNK = 1 << 20
_PROLOG_LIMIT = 1 << 20
_ROOT_ELEMENT = re.compile(rb"<[A-Za-z_]")
_XML_PARTS = (".xml", ".rels", ".vml")
_UNNAMED = re.compile(r"^__UNNAMED__\d+$")


def read_workbook(path: Path, kind: DatasetKind, limits: DatasetLimits) -> LoadedTable:
    if kind in (DatasetKind.XLSX, DatasetKind.ODS):
        inspect_zip(path, limits)
    try:
        reader = fastexcel.read_excel(path)
        names = reader.sheet_names
    except Exception as exc:  # calamine's errors share no public base class
        raise DatasetRefused(
            "unreadable_workbook",
            "The workbook could not be opened (it is damaged, password-protected, or not "
            f"a {kind.value} file).",
        ) from exc
    if len(names) > limits.max_sheets:
        raise DatasetRefused(
            "too_many_sheets",
            f"The workbook has {len(names):,} sheets; the limit is {limits.max_sheets:,}.",
        )
    sheets: list[dict[str, Any]] = []
    chosen: tuple[int, pl.DataFrame] | None = None
    for i in range(len(names)):
        if chosen is None:
            frame, info = _load(reader, i, limits, rows=limits.max_rows + 1)
            if frame is not None and frame.width and frame.height:
                chosen = (i, frame)
        else:
            _, info = _load(reader, i, limits, rows=1)
        sheets.append(info)
    if chosen is None:
        raise DatasetRefused("empty_workbook", "No sheet of the workbook holds any data.")
    index, frame = chosen
    for sheet in sheets:
        sheet["profiled"] = sheet["index"] == index
    names_in, changes = clean_names(["" if _UNNAMED.match(n) else n for n in frame.columns])
    frame.columns = names_in
    check_shape(frame, limits)
    check_cells(frame, limits)
    table = LoadedTable(
        frame=frame,
        source={"format": kind.value, "sheet": names[index], "sheets": sheets},
        workbook=True,
    )
    if index != 0:
        table.warn(
            "sheet_skipped",
            f"The first sheet {names[0]!r} is empty; sheet {names[index]!r} was profiled.",
        )
    for change in changes:
        table.warn("renamed_column", change)
    return table


def _load(
    reader: Any, index: int, limits: DatasetLimits, *, rows: int
) -> tuple[pl.DataFrame | None, dict[str, Any]]:
    name = reader.sheet_names[index]
    info: dict[str, Any] = {"index": index, "name": name, "rows": 0, "columns": 0}
    try:
        sheet = reader.load_sheet(
            index, n_rows=rows, schema_sample_rows=None, dtype_coercion="coerce"
        )
        info["visible"] = sheet.visible == "visible"
        info["columns"] = int(sheet.width)
        if sheet.width == 0:
            return None, info
        info["rows"] = int(sheet.total_height)
        if sheet.width > limits.max_columns:
            raise DatasetRefused(
                "too_many_columns",
                f"Sheet {name!r} has {sheet.width:,} columns; the limit is {limits.max_columns:,}.",
            )
        frame = sheet.to_polars() if rows > 1 else None
    except DatasetRefused:
        raise
    except Exception:  # a sheet calamine cannot read is listed as unreadable
        info["error"] = "unreadable"
        return None, info
    return frame, info


def inspect_zip(path: Path, limits: DatasetLimits) -> None:
    """Refuse a zip-based workbook that inflates past ``limits.max_decompressed_bytes``,
    has too many parts, is encrypted, or declares a DTD in any XML part."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_zip_entries:
                raise DatasetRefused(
                    "zip_too_many_entries",
                    f"The workbook has {len(infos):,} parts; the limit is "
                    f"{limits.max_zip_entries:,}.",
                )
            declared = sum(info.file_size for info in infos)
            if declared > limits.max_decompressed_bytes:
                raise _bomb(declared, limits)
            total = 0
            for info in infos:
                if info.flag_bits & 0x1:
                    raise DatasetRefused(
                        "encrypted_workbook", "The workbook is encrypted; upload it unprotected."
                    )
                total = _inflate(archive, info, total, limits)
    except DatasetRefused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise DatasetRefused(
            "damaged_workbook", f"The workbook is damaged (its zip structure: {_first_line(exc)})."
        ) from None
    except NotImplementedError:
        raise DatasetRefused(
            "damaged_workbook", "The workbook uses a zip compression method Quarry does not read."
        ) from None


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, limits: DatasetLimits
) -> int:
    check_prolog = info.filename.lower().endswith(_XML_PARTS)
    prolog = b""
    with archive.open(info) as part:
        while chunk := part.read(_CHUNK):
            total += len(chunk)
            if total > limits.max_decompressed_bytes:
                raise _bomb(total, limits, partial=True)
            if check_prolog:
                prolog += chunk
                root = _ROOT_ELEMENT.search(prolog)
                head = prolog if root is None else prolog[: root.start()]
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    raise DatasetRefused(
                        "xml_entities",
                        f"The workbook part {info.filename} declares a document type (DTD); "
                        "spreadsheets never need one and it can expand entities without "
                        "bound, so the file is refused.",
                    )
                if root is not None:
                    check_prolog, prolog = False, b""
                elif len(prolog) > _PROLOG_LIMIT:
                    raise DatasetRefused(
                        "damaged_workbook", f"The workbook part {info.filename} is not XML."
                    )
    return total


def _bomb(size: int, limits: DatasetLimits, *, partial: bool = False) -> DatasetRefused:
    amount = f"more than {limits.max_decompressed_bytes:,}" if partial else f"{size:,}"
    return DatasetRefused(
        "zip_bomb",
        f"The workbook inflates to {amount} bytes; the limit is "
        f"{limits.max_decompressed_bytes:,} bytes uncompressed.",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
