"""Pearson and Spearman correlations between the numeric columns.

Pairwise complete: each pair uses the rows where both values are present (as pandas
does). Spearman is Pearson on average ranks; a column without missing values is
ranked once for all its pairs, a pair with missing values is ranked on its own rows.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

from services.ingest.worker.datasets.stats import ColumnStats

MAX_COLUMNS = 30
"""Numeric columns correlated at most (the first ones); the matrix grows as n squared."""
CORRELATED_TYPES = ("integer", "float")
PAIR_THREADS = 2


def correlations(values: pl.DataFrame, columns: list[ColumnStats]) -> dict[str, Any] | None:
    eligible = [
        s
        for s in columns
        if s.semantic in CORRELATED_TYPES
        and s.valid >= 3
        and s.numeric is not None
        and (s.numeric["std"] or 0) > 0
    ][:MAX_COLUMNS]
    if len(eligible) < 2:
        return None
    names = [f"c{s.plan.index}" for s in eligible]
    few = {f"c{s.plan.index}" for s in eligible if (s.distinct or 0) <= FEW_VALUES}
    numbers = values.select([pl.col(n).cast(pl.Float64) for n in names])
    complete = {n for n in names if numbers.get_column(n).null_count() == 0}
    ranks: dict[str, pl.Series] = {}

    def complete_rank(name: str) -> pl.Series:
        # Ranked once, when a pair of two complete columns first needs it.
        if name not in ranks:
            ranks[name] = _rank(numbers.get_column(name), name in few)
        return ranks[name]

    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]

    def spearman(pair: tuple[int, int]) -> float | None:
        a, b = names[pair[0]], names[pair[1]]
        if a in complete and b in complete:
            ra, rb = complete_rank(a), complete_rank(b)
        else:
            both = numbers.select(a, b).drop_nulls()
            ra, rb = _rank(both.get_column(a), a in few), _rank(both.get_column(b), b in few)
        value = pl.DataFrame([ra.alias("a"), rb.alias("b")]).select(pl.corr("a", "b")).item()
        return None if value is None else float(value)

    # Pairs in threads: polars releases the GIL, so the ranks of two pairs sort at once.
    with ThreadPoolExecutor(max_workers=PAIR_THREADS) as pool:
        spearman_row = list(pool.map(spearman, pairs))
    pearson_exprs = [pl.corr(names[i], names[j]).alias(f"{i}:{j}") for i, j in pairs]
    pearson_row = numbers.select(pearson_exprs).row(0)
    return {
        "columns": [s.plan.name for s in eligible],
        "pearson": _matrix(len(names), pairs, pearson_row),
        "spearman": _matrix(len(names), pairs, spearman_row),
    }


FEW_VALUES = 10_000
"""Up to this many distinct values, ranks come from counting each value (no sort)."""


def _rank(column: pl.Series, few_values: bool) -> pl.Series:
    """Average ranks (ties share the mean of their positions), as Spearman needs. With
    few distinct values a value's rank is the count of smaller values plus the mean
    position among its ties: one group-by and a lookup instead of a sort."""
    if not few_values:
        return column.rank("average")
    counts = column.value_counts(sort=False, name="n").sort(column.name)
    n = counts.get_column("n").cast(pl.Float64)
    average = n.cum_sum() - n + (n + 1) / 2
    return column.replace_strict(counts.get_column(column.name), average, return_dtype=pl.Float64)


def _matrix(size: int, pairs: list[tuple[int, int]], found: Any) -> list[list[float | None]]:
    matrix: list[list[float | None]] = [
        [1.0 if i == j else None for j in range(size)] for i in range(size)
    ]
    for (i, j), value in zip(pairs, found, strict=True):
        r = None if value is None or not math.isfinite(value) else max(-1.0, min(1.0, value))
        matrix[i][j] = matrix[j][i] = r
    return matrix
