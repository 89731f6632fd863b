"""The automatic profile of a dataset: whole table, columns, correlations, alerts,
data-quality diagnosis, and a preview of the first rows.

Pure and synchronous (CPU work: run it in a worker thread or process, never on an
event loop). The result is plain JSON data: no NaN, no infinity, no numpy scalars.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from services.ingest.worker.datasets.alerts import alerts
from services.ingest.worker.datasets.correlations import correlations
from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.infer import UnsupportedColumnType, type_columns
from services.ingest.worker.datasets.jsonable import TEXT_LIMIT, jsonable
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.quality import diagnose
from services.ingest.worker.datasets.reader import read_table
from services.ingest.worker.datasets.semantic import SEMANTIC_TYPES, semantic_type
from services.ingest.worker.datasets.stats import ColumnStats, column_statistics
from services.ingest.worker.datasets.table import LoadedTable

PROFILE_VERSION = 1
PREVIEW_ROWS = 1_000
PROFILE_TEXT_LIMIT = 200
"""Characters kept of a value quoted in the profile (top values, examples)."""
SAMPLE_ROWS = 5
DUPLICATE_EXAMPLES = 5


@dataclass(frozen=True)
class DatasetProfile:
    profile: dict[str, Any]
    preview: dict[str, Any]
    """``{"columns": [...], "rows": [[...], ...]}``: the first ``PREVIEW_ROWS`` rows as read."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (``read``, ``type``, ``statistics``, ...) and the process's CPU
    seconds in it (``read_cpu``, ...): where the time went."""


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def lap(self, stage: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self.timings[f"{stage}_cpu"] = self.timings.get(f"{stage}_cpu", 0.0) + cpu - self._last_cpu
        self._last, self._last_cpu = now, cpu


def profile_file(
    path: Path,
    filename: str,
    limits: DatasetLimits | None = None,
    *,
    preview_rows: int = PREVIEW_ROWS,
) -> DatasetProfile:
    """Read and profile ``path`` (uploaded as ``filename``); raises ``DatasetRefused``."""
    clock = _Stopwatch()
    with tempfile.TemporaryDirectory(prefix="quarry-dataset-") as workdir:
        table = read_table(path, filename, limits or DatasetLimits(), Path(workdir))
        clock.lap("read")
        return profile_table(table, preview_rows=preview_rows, _clock=clock)


def profile_table(
    table: LoadedTable, *, preview_rows: int = PREVIEW_ROWS, _clock: _Stopwatch | None = None
) -> DatasetProfile:
    clock = _clock or _Stopwatch()
    frame = table.frame
    try:
        typed = type_columns(frame, workbook=table.workbook)
    except UnsupportedColumnType as exc:
        raise DatasetRefused(
            "unsupported_column_type",
            f"Column {exc.column!r} has a type Quarry cannot profile ({exc.dtype}).",
        ) from None
    clock.lap("type")
    columns = column_statistics(typed, frame)
    for stats in columns:
        stats.semantic = semantic_type(stats)
    clock.lap("statistics")
    duplicates, duplicate_examples = _duplicate_rows(frame)
    clock.lap("duplicates")
    matrix = correlations(typed.values, columns)
    clock.lap("correlations")
    rows = frame.height
    missing = sum(s.null_count for s in columns)
    cells = rows * frame.width
    profile = {
        "version": PROFILE_VERSION,
        "source": table.source,
        "table": {
            "rows": rows,
            "columns": frame.width,
            "memory_bytes": frame.estimated_size(),
            "missing_cells": missing,
            "missing_cells_share": missing / cells if cells else 0.0,
            "duplicate_rows": duplicates,
            "duplicate_rows_share": duplicates / rows if rows else 0.0,
            "types": _type_counts(columns),
            "sample": _sample(frame),
        },
        "columns": [_column(s) for s in columns],
        "correlations": matrix,
        "alerts": alerts(columns, rows=rows, duplicate_rows=duplicates, correlations=matrix),
        "quality": diagnose(
            typed.values,
            columns,
            rows=rows,
            duplicate_rows=duplicates,
            duplicate_examples=duplicate_examples,
        ),
        "warnings": table.warnings,
    }
    clock.lap("diagnosis")
    preview = {
        "columns": frame.columns,
        "rows": [list(r) for r in frame.head(preview_rows).iter_rows()],
    }
    result = DatasetProfile(
        profile=jsonable(profile, text_limit=PROFILE_TEXT_LIMIT),
        preview=jsonable(preview, text_limit=TEXT_LIMIT),
        timings=clock.timings,
    )
    clock.lap("serialise")
    return result


def _duplicate_rows(frame: pl.DataFrame) -> tuple[int, list[int]]:
    """Rows equal to an earlier row, by a 64-bit hash of each row (a false match needs a
    hash collision: about one in 10^7 for a billion pairs of rows)."""
    if frame.height < 2 or frame.width == 0:
        return 0, []
    repeated = ~frame.hash_rows().is_first_distinct()
    count = int(repeated.sum())
    examples = (repeated.arg_true().head(DUPLICATE_EXAMPLES) + 1).to_list() if count else []
    return count, examples


def _type_counts(columns: list[ColumnStats]) -> dict[str, int]:
    counts = {t: 0 for t in SEMANTIC_TYPES}
    for s in columns:
        counts[s.semantic] += 1
    return {t: n for t, n in counts.items() if n}


def _sample(frame: pl.DataFrame) -> dict[str, Any]:
    """A few rows spread evenly over the table (the preview shows the first ones)."""
    if frame.height == 0:
        return {"rows": [], "values": []}
    step = max(1, frame.height // SAMPLE_ROWS)
    positions = list(range(0, frame.height, step))[:SAMPLE_ROWS]
    picked = frame[positions]
    return {"rows": [p + 1 for p in positions], "values": [list(r) for r in picked.iter_rows()]}


def _column(s: ColumnStats) -> dict[str, Any]:
    plan = s.plan
    column: dict[str, Any] = {
        "name": plan.name,
        "index": plan.index,
        "semantic_type": s.semantic,
        "source_type": plan.source_type,
        "parsed_as": plan.parsed_as,
        "count": s.count,
        "null_count": s.null_count,
        "null_share": s.null_count / s.rows if s.rows else 0.0,
        "distinct": s.distinct,
        "distinct_share": (s.distinct / s.count) if s.distinct is not None and s.count else None,
        "memory_bytes": s.memory_bytes,
        "top_values": s.top_values,
    }
    for key in ("numeric", "datetime", "boolean", "text"):
        value = getattr(s, key)
        if value is not None:
            column["length" if key == "text" else key] = value
    if s.histogram is not None:
        column["histogram"] = s.histogram
    if plan.date_formats:
        column["date_formats"] = plan.date_formats
    if plan.null_tokens:
        column["null_placeholders"] = plan.null_tokens
    if plan.nonconforming:
        column["nonconforming"] = {
            "count": plan.nonconforming,
            "examples": plan.nonconforming_examples,
        }
    if s.imbalance is not None:
        column["imbalance"] = s.imbalance
    if plan.notes:
        column["notes"] = plan.notes
    return column
