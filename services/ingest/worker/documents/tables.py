"""Conversions between the table formats (CSV, XLSX, Parquet, JSON) with polars.

- CSV: the delimiter is sniffed (``,`` ``;`` tab ``|``), invalid UTF-8 replaced.
- XLSX: the first sheet, read with calamine (fastexcel), written with xlsxwriter.
- JSON: an array of objects, newline-delimited objects, or an object holding one
  array of objects (``{"data": [...]}``); written as an array of objects.
- Nested values (lists, objects) become JSON strings in CSV and XLSX.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson

from services.ingest.worker.documents.archives import inspect_archive
from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.kinds import DocumentKind
from services.ingest.worker.documents.limits import DocumentLimits

XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header
# A JSON object is parsed whole up to this size (a larger one is read as NDJSON).
_WHOLE_OBJECT_BYTES = 256 * 1024 * 1024


def _polars() -> Any:
    import polars

    return polars


def read_table(path: Path, kind: DocumentKind, limits: DocumentLimits) -> Any:
    """The table as a polars DataFrame; a file that is not one is rejected."""
    pl = _polars()
    try:
        if kind is DocumentKind.CSV:
            return pl.read_csv(
                path,
                separator=_delimiter(path),
                infer_schema_length=10_000,
                encoding="utf8-lossy",
            )
        if kind is DocumentKind.XLSX:
            inspect_archive(path, limits.archive)
            return pl.read_excel(path, engine="calamine", sheet_id=1)
        if kind is DocumentKind.PARQUET:
            return pl.read_parquet(path)
        if kind is DocumentKind.JSON:
            return _read_json(path, limits)
    except DocumentRejected:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError, orjson.JSONDecodeError) as exc:
        raise DocumentRejected(
            f"the {kind} file cannot be read as a table: {_first_line(exc)}"
        ) from exc
    except Exception as exc:  # fastexcel's own errors for damaged workbooks
        if type(exc).__module__.startswith("fastexcel"):
            raise DocumentRejected(f"the workbook cannot be read: {_first_line(exc)}") from exc
        raise
    raise DocumentRejected(f"a {kind} file is not a table")


def write_table(frame: Any, kind: DocumentKind, path: Path) -> None:
    if kind is DocumentKind.PARQUET:
        frame.write_parquet(path)
    elif kind is DocumentKind.JSON:
        frame.write_json(path)
    elif kind is DocumentKind.CSV:
        _flatten_nested(frame).write_csv(path)
    elif kind is DocumentKind.XLSX:
        if frame.height > XLSX_MAX_ROWS:
            raise DocumentRejected(
                f"the table has {frame.height} rows; an Excel sheet holds {XLSX_MAX_ROWS}"
            )
        _flatten_nested(frame).write_excel(path, autofit=False)
    else:
        raise DocumentRejected(f"a table cannot be written as {kind}")


def convert_table(
    source: Path,
    source_kind: DocumentKind,
    destination: Path,
    target_kind: DocumentKind,
    limits: DocumentLimits,
) -> dict[str, Any]:
    frame = read_table(source, source_kind, limits)
    write_table(frame, target_kind, destination)
    return {"rows": frame.height, "columns": frame.width}


def _delimiter(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(64 * 1024).decode("utf-8", errors="replace")
    lines = head.splitlines()[:50]
    if len(lines) > 1:
        lines = lines[:-1]  # possibly cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_json(path: Path, limits: DocumentLimits) -> Any:
    pl = _polars()
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return pl.read_json(path)
    if not head.startswith(b"{"):
        raise DocumentRejected("the JSON is neither an array nor an object")
    if path.stat().st_size > _WHOLE_OBJECT_BYTES:
        return pl.read_ndjson(path)  # too big for one object: a stream of them
    try:
        value = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return pl.read_ndjson(path)  # one object per line
    arrays = [v for v in value.values() if isinstance(v, list)]
    if len(arrays) == 1 and all(isinstance(item, dict) for item in arrays[0]):
        return pl.DataFrame(arrays[0], infer_schema_length=10_000)
    return pl.DataFrame([value])


def _flatten_nested(frame: Any) -> Any:
    """Lists and structs as JSON text: CSV and Excel cells hold scalars."""
    pl = _polars()
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if not nested:
        return frame
    return frame.with_columns(
        pl.Series(
            name,
            [_json_text(value) for value in frame[name].to_list()],
            dtype=pl.String,
        )
        for name in nested
    )


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=str).decode()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
