"""CSV files: encoding and dialect sniffed, every cell read as text (typed later), ragged
rows and blank lines reported instead of failing the read."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from services.ingest.worker.datasets.dialect import CsvDialect, sniff_dialect
from services.ingest.worker.datasets.encoding import detect_encoding, transcode_to_utf8
from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.records import RecordShape, scan_records
from services.ingest.worker.datasets.table import LoadedTable, check_cells, check_shape, clean_names

SAMPLE_BYTES = 64 << 10
_CHUNK = 4 << 20


def read_csv(path: Path, limits: DatasetLimits, workdir: Path) -> LoadedTable:
    encoding = detect_encoding(path)
    readable = path
    if not encoding.polars_reads_as_is:
        readable = transcode_to_utf8(path, encoding, workdir / "transcoded.csv")
    sample, complete = _sample(readable)
    if not sample.strip():
        raise DatasetRefused("empty_file", "The file holds no data (it is empty or blank).")
    notes: list[tuple[str, str]] = []
    if "\n" not in sample and "\r" in sample:
        readable = _carriage_returns_to_newlines(readable, workdir / "newlines.csv")
        sample = sample.replace("\r", "\n")
        notes.append(("line_endings", "Lines end in a bare carriage return (old Mac style)."))
    dialect = sniff_dialect(sample, complete=complete)
    if dialect.quote and _odd_quote_count(readable, dialect.quote):
        # A stray quote (5" screen) would swallow the rest of the file into one field.
        dialect = CsvDialect(delimiter=dialect.delimiter, quote=None)
    header = _header(sample, dialect)
    if len(header) > limits.max_columns:
        raise DatasetRefused(
            "too_many_columns",
            f"The table has {len(header):,} columns; the limit is {limits.max_columns:,}.",
        )
    frame, dialect, ragged = _read(readable, dialect, limits)
    table = LoadedTable(
        frame=frame,
        source={
            "format": "csv",
            "encoding": encoding.label,
            "delimiter": dialect.delimiter,
            "delimiter_name": dialect.delimiter_name,
            "quote": dialect.quote,
            "header": True,
        },
    )
    for code, message in notes:
        table.warn(code, message)
    if dialect.quote is None:
        table.warn(
            "unbalanced_quotes",
            "Quotes in the file do not pair up; it was read with quote characters as "
            "ordinary text.",
        )
    check_shape(frame, limits)
    check_cells(frame, limits)
    last = frame.columns[-1] if frame.width else None
    if ragged or (last is not None and frame.get_column(last).null_count()):
        shape = scan_records(readable, dialect.delimiter, dialect.quote)
        table.frame = _apply_shape(table, shape)
    names = header if len(header) == table.frame.width else table.frame.columns
    cleaned, changes = clean_names(names)
    table.frame.columns = cleaned
    for change in changes:
        table.warn("renamed_column", change)
    return table


def _sample(path: Path) -> tuple[str, bool]:
    with path.open("rb") as stream:
        head = stream.read(SAMPLE_BYTES + 1)
    complete = len(head) <= SAMPLE_BYTES
    text = head[:SAMPLE_BYTES].decode("utf-8", errors="ignore")
    return text.removeprefix("\ufeff"), complete


def _header(sample: str, dialect: CsvDialect) -> list[str]:
    reader = csv.reader(
        io.StringIO(sample, newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote or '"',
        quoting=csv.QUOTE_MINIMAL if dialect.quote else csv.QUOTE_NONE,
    )
    try:
        return next(reader, [])
    except csv.Error:
        return []


def _read(
    path: Path, dialect: CsvDialect, limits: DatasetLimits
) -> tuple[pl.DataFrame, CsvDialect, bool]:
    """Read strictly first; on "more fields than the header" again tolerating ragged
    rows; on broken quoting again with quotes as ordinary characters. Returns the frame,
    the dialect that read it and whether rows were ragged (then they are counted)."""
    try:
        frame = _polars(path, dialect, limits, ragged=False)
        if frame.height or dialect.quote is None:
            return frame, dialect, False
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            try:
                return _polars(path, dialect, limits, ragged=True), dialect, True
            except pl.exceptions.ComputeError:
                pass
    if dialect.quote is not None:
        literal = CsvDialect(delimiter=dialect.delimiter, quote=None)
        try:
            return _polars(path, literal, limits, ragged=True), literal, True
        except pl.exceptions.ComputeError:
            pass
    raise DatasetRefused(
        "unreadable_csv",
        f"The file could not be read as {dialect.delimiter_name}-separated CSV.",
    )


def _polars(
    path: Path, dialect: CsvDialect, limits: DatasetLimits, *, ragged: bool
) -> pl.DataFrame:
    try:
        return pl.read_csv(
            path,
            separator=dialect.delimiter,
            quote_char=dialect.quote,
            has_header=True,
            infer_schema=False,
            n_rows=limits.max_rows + 1,
            truncate_ragged_lines=ragged,
            raise_if_empty=True,
        )
    except pl.exceptions.NoDataError:
        raise DatasetRefused("empty_file", "The file holds no data.") from None


def _apply_shape(table: LoadedTable, shape: RecordShape) -> pl.DataFrame:
    frame = table.frame
    if shape.rows != frame.height:
        # The byte scan and polars disagree (a quote the scan reads differently): do not
        # guess which rows were ragged.
        return frame
    if shape.short_rows:
        table.warn(
            "short_rows",
            f"{shape.short_rows:,} rows have fewer fields than the header's "
            f"{shape.header_fields}; their missing fields were left empty.",
            rows=shape.short_rows,
            examples=[
                {"row": r, "fields": f} for r, f in shape.examples if f < shape.header_fields
            ],
        )
    if shape.long_rows:
        table.warn(
            "long_rows",
            f"{shape.long_rows:,} rows have more fields than the header's "
            f"{shape.header_fields}; the extra fields were dropped.",
            rows=shape.long_rows,
            examples=[
                {"row": r, "fields": f} for r, f in shape.examples if f > shape.header_fields
            ],
        )
    if shape.blank_rows:
        table.warn(
            "blank_lines",
            f"{len(shape.blank_rows):,} blank lines were skipped.",
            rows=len(shape.blank_rows),
        )
        keep = pl.Series("keep", [True] * frame.height)
        keep = keep.scatter(shape.blank_rows, False)
        frame = frame.filter(keep)
    return frame


def _odd_quote_count(path: Path, quote: str) -> bool:
    mark = quote.encode()
    count = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            count += chunk.count(mark)
    return count % 2 == 1


def _carriage_returns_to_newlines(path: Path, target: Path) -> Path:
    with path.open("rb") as source, target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk.replace(b"\r", b"\n"))
    return target
