"""The bounds a dataset must stay within to be read at all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetLimits:
    """Every limit is checked before or while reading, so a hostile file is refused
    before it costs more than the limit allows."""

    max_rows: int = 5_000_000
    max_columns: int = 1_000
    max_cell_bytes: int = 1 << 20
    """The largest single value (a CSV field, an Excel or Parquet string)."""
    max_decompressed_bytes: int = 512 << 20
    """All parts of a workbook (a zip) inflated together, and a Parquet file decoded."""
    max_zip_entries: int = 10_000
    max_sheets: int = 256
