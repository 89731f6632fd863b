"""Read any supported dataset file into a ``LoadedTable``: the kind is decided from the
bytes (checked against the name), then the matching reader runs within the limits."""

from __future__ import annotations

from pathlib import Path

from services.ingest.worker.datasets.csv_reader import read_csv
from services.ingest.worker.datasets.excel_reader import read_workbook
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.parquet_reader import read_parquet
from services.ingest.worker.datasets.sniff import DatasetKind, identify_file
from services.ingest.worker.datasets.table import LoadedTable


def read_table(path: Path, filename: str, limits: DatasetLimits, workdir: Path) -> LoadedTable:
    """``workdir`` receives temporary copies (a CSV transcoded to UTF-8); the caller
    removes it."""
    kind = identify_file(path, filename)
    if kind == DatasetKind.CSV:
        return read_csv(path, limits, workdir)
    if kind == DatasetKind.PARQUET:
        return read_parquet(path, limits)
    return read_workbook(path, kind, limits)
