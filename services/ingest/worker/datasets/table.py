"""A table as read from a file, with what the reader found out on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.limits import DatasetLimits


@dataclass
class LoadedTable:
    frame: pl.DataFrame
    source: dict[str, Any]
    """How the file was read: format, encoding, delimiter, sheets, ..."""
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """What was odd but readable (ragged rows, blank lines, renamed columns)."""
    workbook: bool = False
    """Numbers came from spreadsheet cells (whole numbers stored as floats)."""

    def warn(self, code: str, message: str, **details: Any) -> None:
        self.warnings.append({"code": code, "message": message, **details})


def clean_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Column names that are all present and distinct: an empty header becomes
    ``column_3``, a repeated one ``price (2)``. Returns the names and what was changed."""
    result: list[str] = []
    changes: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(names, start=1):
        name = (raw or "").strip()
        if not name:
            name = f"column_{position}"
            changes.append(f"column {position} has no header: named {name}")
        base, k = name, 2
        while name in seen:
            name = f"{base} ({k})"
            k += 1
        if name != base and base.strip():
            changes.append(f"header {base!r} repeats: column {position} named {name!r}")
        seen.add(name)
        result.append(name)
    return result, changes


def check_shape(frame: pl.DataFrame, limits: DatasetLimits) -> None:
    if frame.width > limits.max_columns:
        raise DatasetRefused(
            "too_many_columns",
            f"The table has {frame.width:,} columns; the limit is {limits.max_columns:,}.",
        )
    if frame.height > limits.max_rows:
        raise DatasetRefused(
            "too_many_rows",
            f"The table has more than {limits.max_rows:,} rows (the limit).",
        )


def check_cells(frame: pl.DataFrame, limits: DatasetLimits) -> None:
    """No single value above ``limits.max_cell_bytes``."""
    sized = [
        (name, pl.col(name).str.len_bytes() if dtype == pl.String else pl.col(name).bin.size())
        for name, dtype in frame.schema.items()
        if dtype in (pl.String, pl.Binary)
    ]
    if not sized:
        return
    largest = frame.select([expr.max().alias(name) for name, expr in sized]).row(0, named=True)
    for name, _ in sized:
        size = largest[name] or 0
        if size > limits.max_cell_bytes:
            row = frame.select(
                [expr.arg_max().alias("row") for n, expr in sized if n == name]
            ).item()
            raise DatasetRefused(
                "cell_too_large",
                f"A value in column {name!r} (row {row + 1:,}) is {size:,} bytes; the limit "
                f"is {limits.max_cell_bytes:,} bytes per value.",
            )
