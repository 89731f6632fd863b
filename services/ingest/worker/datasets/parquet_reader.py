"""Parquet files: limits checked on the footer before any data is decoded, then read in
batches whose decoded size is watched (a highly compressed column cannot inflate
without bound). Nested and unusual types are kept (lists, structs, binary) or
converted (decimal, duration, time, categorical) by the typing step; a type polars
cannot represent refuses the file with the column named."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.table import LoadedTable, check_cells, check_shape

_PROBE_ROWS = 1_000
_BATCH_BYTES = 64 << 20


def read_parquet(path: Path, limits: DatasetLimits) -> LoadedTable:
    try:
        schema = pl.read_parquet_schema(path)
        rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DatasetRefused(
            "unreadable_parquet", "The Parquet file could not be read (its footer is damaged)."
        ) from exc
    if len(schema) > limits.max_columns:
        raise DatasetRefused(
            "too_many_columns",
            f"The table has {len(schema):,} columns; the limit is {limits.max_columns:,}.",
        )
    if rows > limits.max_rows:
        raise DatasetRefused(
            "too_many_rows", f"The table has {rows:,} rows; the limit is {limits.max_rows:,}."
        )
    for name, dtype in schema.items():
        if dtype == pl.Object or str(dtype).startswith("Unknown"):
            raise DatasetRefused(
                "unsupported_column_type",
                f"Column {name!r} has a type Quarry cannot profile ({dtype}).",
            )
    frame = _read_batches(path, rows, limits)
    check_shape(frame, limits)
    check_cells(frame, limits)
    return LoadedTable(
        frame=frame,
        source={
            "format": "parquet",
            "schema": {name: str(dtype) for name, dtype in schema.items()},
        },
    )


def _read_batches(path: Path, rows: int, limits: DatasetLimits) -> pl.DataFrame:
    lazy = pl.scan_parquet(path)
    try:
        probe = lazy.head(_PROBE_ROWS).collect()
        per_row = max(1, int(probe.estimated_size()) // max(1, probe.height))
        batch = max(_PROBE_ROWS, _BATCH_BYTES // per_row)
        if rows <= probe.height:
            return probe
        parts = [probe]
        size = probe.estimated_size()
        offset = probe.height
        while offset < rows:
            part = lazy.slice(offset, batch).collect()
            size += part.estimated_size()
            if size > limits.max_decompressed_bytes:
                raise DatasetRefused(
                    "parquet_too_large",
                    f"The Parquet file decodes to more than {limits.max_decompressed_bytes:,} "
                    "bytes (the limit).",
                )
            parts.append(part)
            offset += part.height
            if part.height == 0:
                break
        return pl.concat(parts, rechunk=False)
    except DatasetRefused:
        raise
    except pl.exceptions.PolarsError as exc:
        raise DatasetRefused(
            "unreadable_parquet", "The Parquet file's data could not be decoded (it is damaged)."
        ) from exc
