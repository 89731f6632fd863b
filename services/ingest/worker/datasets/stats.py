"""Per-column statistics, by family, in two passes over the typed table.

Pass one is a single ``select`` of every aggregate of every column (polars runs them
in parallel): counts, distinct counts, moments, quantiles, extremes, length and
calendar checks. Pass two needs pass one's figures (histogram edges, z-scores) or a
group-by per column (value counts); its queries run together with ``collect_all``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from services.ingest.worker.datasets.infer import ColumnPlan, TypedTable

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 20
TOP_VALUES = 10
EXAMPLES = 5
Z_THRESHOLD = 3.0
WORDS_SAMPLE = 10_000

# Mojibake: UTF-8 bytes decoded as windows-1252 / Latin-1. A lead byte shown as
# Ã, Â, Ð, Ñ or â€ followed by a continuation byte shown as a windows-1252 character.
_CONTINUATION = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
MOJIBAKE = f"[ÃÂÐÑ][{_CONTINUATION}]|â€|ï»¿|\ufffd"
MOJIBAKE_RE = re.compile(MOJIBAKE)


@dataclass
class ColumnStats:
    plan: ColumnPlan
    rows: int
    count: int
    """Cells holding a value (``rows - null_count``)."""
    null_count: int
    memory_bytes: int
    valid: int = 0
    """Values the statistics run on: parsed, finite."""
    distinct: int | None = None
    numeric: dict[str, Any] | None = None
    datetime: dict[str, Any] | None = None
    boolean: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    nested: dict[str, Any] | None = None
    top_values: list[dict[str, Any]] = field(default_factory=list)
    histogram: dict[str, Any] | None = None
    semantic: str = ""
    # Figures the quality checks use.
    outliers: int = 0
    outlier_examples: list[Any] = field(default_factory=list)
    negatives: int = 0
    negative_examples: list[Any] = field(default_factory=list)
    whitespace: int = 0
    whitespace_examples: list[str] = field(default_factory=list)
    mojibake: int = 0
    mojibake_examples: list[str] = field(default_factory=list)
    case_variants: list[dict[str, Any]] = field(default_factory=list)
    case_affected: int = 0
    monotonic: bool = False
    imbalance: float | None = None
    """1 - entropy / log(classes), as ydata-profiling computes it (0 = balanced)."""


def column_statistics(typed: TypedTable, raw: pl.DataFrame) -> list[ColumnStats]:
    values = typed.values
    valid = dict(zip(values.columns, values.select(pl.all().count()).row(0), strict=True))
    first = values.select(
        [e for p in typed.plans for e in _pass_one(p, values.height, valid[f"c{p.index}"])]
    )
    row = first.row(0, named=True) if first.width else {}
    columns = [
        _from_pass_one(p, row, values.height, int(raw.get_column(p.name).estimated_size()))
        for p in typed.plans
    ]
    _pass_two(values, columns)
    return columns


def _quantile_positions(valid: int) -> list[int]:
    """For each of ``QUANTILES``, the two sorted positions linear interpolation reads."""
    positions: list[int] = []
    for q in QUANTILES:
        h = (valid - 1) * q
        low = math.floor(h)
        positions += [low, min(low + 1, valid - 1)]
    return positions


def _quantiles(gathered: list[float] | None, valid: int) -> dict[str, float | None]:
    """Linear interpolation between the closest ranks (numpy's and pandas' default)."""
    if not gathered or valid == 0:
        return {f"{round(q * 100)}%": None for q in QUANTILES}
    result: dict[str, float | None] = {}
    for k, q in enumerate(QUANTILES):
        h = (valid - 1) * q
        a, b = gathered[2 * k], gathered[2 * k + 1]
        result[f"{round(q * 100)}%"] = a + (h - math.floor(h)) * (b - a)
    return result


def _pass_one(plan: ColumnPlan, _rows_hint: int, valid: int) -> list[pl.Expr]:
    c = f"c{plan.index}"
    x = pl.col(c)
    exprs = [x.count().alias(f"{c}:valid")]
    if plan.family == "numeric":
        real = x.cast(pl.Float64)
        exprs += [
            x.n_unique().alias(f"{c}:distinct"),
            x.min().alias(f"{c}:min"),
            x.max().alias(f"{c}:max"),
            real.mean().alias(f"{c}:mean"),
            real.std().alias(f"{c}:std"),
            real.sum().alias(f"{c}:sum"),
            real.skew(bias=False).alias(f"{c}:skew"),
            real.kurtosis(bias=False).alias(f"{c}:kurtosis"),
            (x == 0).sum().alias(f"{c}:zeros"),
            (x < 0).sum().alias(f"{c}:negatives"),
            x.drop_nulls().diff().drop_nulls().ge(0).all().alias(f"{c}:monotonic"),
        ]
        if valid:
            # One sort serves every quantile (polars' quantile() sorts once per call).
            positions = _quantile_positions(valid)
            exprs.append(real.drop_nulls().sort().gather(positions).implode().alias(f"{c}:q"))
    elif plan.family == "datetime":
        # Calendar checks as integer arithmetic on microseconds since the epoch: much
        # cheaper than extracting fields. Month and year granularity are checked in pass
        # two, only for columns that are whole days.
        micros = x.dt.epoch("us")
        exprs += [
            x.n_unique().alias(f"{c}:distinct"),
            x.min().alias(f"{c}:min"),
            x.max().alias(f"{c}:max"),
            (micros % 86_400_000_000 == 0).all().alias(f"{c}:midnight"),
            (micros % 3_600_000_000 == 0).all().alias(f"{c}:whole_hours"),
            (micros % 60_000_000 == 0).all().alias(f"{c}:whole_minutes"),
            (micros % 1_000_000 == 0).all().alias(f"{c}:whole_seconds"),
        ]
    elif plan.family == "boolean":
        exprs += [x.sum().alias(f"{c}:true")]
    elif plan.family == "string":
        length = x.str.len_chars()
        exprs += [
            length.min().alias(f"{c}:len_min"),
            length.max().alias(f"{c}:len_max"),
            length.mean().alias(f"{c}:len_mean"),
            # Words per value, estimated on about WORDS_SAMPLE values spread over the column.
            x.gather_every(max(1, _rows_hint // WORDS_SAMPLE))
            .str.count_matches(" ", literal=True)
            .mean()
            .alias(f"{c}:spaces"),
        ]
    elif plan.family == "binary":
        size = x.bin.size()
        exprs += [
            size.min().alias(f"{c}:len_min"),
            size.max().alias(f"{c}:len_max"),
            size.mean().alias(f"{c}:len_mean"),
        ]
    elif plan.family == "nested" and plan.source_type.startswith(("List", "Array")):
        length = x.list.len() if plan.source_type.startswith("List") else x.arr.len()
        exprs += [
            length.min().alias(f"{c}:len_min"),
            length.max().alias(f"{c}:len_max"),
            length.mean().alias(f"{c}:len_mean"),
        ]
    return exprs


def _from_pass_one(plan: ColumnPlan, row: dict[str, Any], rows: int, memory: int) -> ColumnStats:
    c = f"c{plan.index}"
    stats = ColumnStats(
        plan=plan,
        rows=rows,
        count=plan.present,
        null_count=rows - plan.present,
        memory_bytes=memory,
        valid=int(row.get(f"{c}:valid") or 0),
    )
    if plan.family in ("numeric", "datetime"):
        stats.distinct = int(row[f"{c}:distinct"]) - (1 if stats.valid < rows else 0)
    if plan.family == "numeric":
        stats.negatives = int(row[f"{c}:negatives"] or 0)
        stats.monotonic = bool(row[f"{c}:monotonic"]) and stats.count > 1
        stats.numeric = {
            "min": _number(row[f"{c}:min"]),
            "max": _number(row[f"{c}:max"]),
            "mean": _number(row[f"{c}:mean"]),
            "std": _number(row[f"{c}:std"]),
            "sum": _number(row[f"{c}:sum"]),
            "skewness": _number(row[f"{c}:skew"]),
            "kurtosis": _number(row[f"{c}:kurtosis"]),
            "quantiles": _quantiles(row.get(f"{c}:q"), stats.valid),
            "zeros": int(row[f"{c}:zeros"] or 0),
            "negatives": stats.negatives,
            "infinite": plan.infinite,
            "monotonic_increasing": stats.monotonic,
        }
        q25, q75 = stats.numeric["quantiles"]["25%"], stats.numeric["quantiles"]["75%"]
        stats.numeric["iqr"] = None if q25 is None or q75 is None else q75 - q25
    elif plan.family == "datetime":
        low, high = row[f"{c}:min"], row[f"{c}:max"]
        stats.datetime = {
            "min": low,
            "max": high,
            "range_days": None if low is None else (high - low).total_seconds() / 86400,
            "granularity": _granularity(row, c) if stats.valid else None,
        }
    elif plan.family == "boolean":
        true = int(row[f"{c}:true"] or 0)
        false = stats.valid - true
        stats.distinct = (true > 0) + (false > 0)
        stats.boolean = {"true": true, "false": false}
        stats.top_values = [
            {"value": value, "count": n}
            for value, n in sorted(((True, true), (False, false)), key=lambda t: -t[1])
            if n
        ]
        stats.imbalance = _imbalance([true, false])
    elif plan.family in ("string", "binary", "nested") and f"{c}:len_min" in row:
        stats.text = {
            "length_min": row[f"{c}:len_min"],
            "length_max": row[f"{c}:len_max"],
            "length_mean": _number(row[f"{c}:len_mean"]),
        }
        if plan.family == "string":
            stats.text["words_mean"] = _number((row[f"{c}:spaces"] or 0) + 1)
    return stats


def _granularity(row: dict[str, Any], c: str) -> str:
    if row[f"{c}:midnight"]:
        return "day"  # or "month" / "year": refined in pass two
    if row[f"{c}:whole_minutes"]:
        return "hour" if row[f"{c}:whole_hours"] else "minute"
    return "second" if row[f"{c}:whole_seconds"] else "sub-second"


def _pass_two(values: pl.DataFrame, columns: list[ColumnStats]) -> None:
    queries: list[pl.LazyFrame] = []
    handlers: list[Any] = []
    strings: list[tuple[ColumnStats, pl.DataFrame]] = []
    lazy = values.lazy()
    for stats in columns:
        c = f"c{stats.plan.index}"
        family = stats.plan.family
        if family == "numeric" and stats.valid:
            queries.append(_numeric_shape(lazy, c, stats))
            handlers.append(lambda frame, s=stats: _read_numeric_shape(frame, s))
            if stats.plan.parsed_as == "integer" and (stats.distinct or 0) <= stats.count / 2:
                queries.append(_value_counts(lazy, c))
                handlers.append(lambda frame, s=stats: _read_top_values(frame, s))
        elif family == "datetime" and stats.valid:
            queries.append(_datetime_histogram(lazy, c, stats))
            handlers.append(lambda frame, s=stats: _read_histogram(frame, s))
            if stats.datetime and stats.datetime["granularity"] == "day":
                x = pl.col(c)
                queries.append(
                    lazy.select(
                        (x.dt.day() == 1).all().alias("first_day"),
                        (x.dt.month() == 1).all().alias("january"),
                    )
                )
                handlers.append(lambda frame, s=stats: _read_calendar(frame, s))
        elif family == "string" and stats.valid:
            queries.append(_hash_counts(lazy, c))
            handlers.append(lambda frame, s=stats: strings.append((s, frame)))
        elif family in ("nested", "binary") and stats.valid:
            queries.append(lazy.select(_safe_n_unique(c, values.schema[c])))
            handlers.append(lambda frame, s=stats: _read_distinct(frame, s))
    for frame, handler in zip(pl.collect_all(queries), handlers, strict=True):
        handler(frame)
    _string_counts(lazy, strings)


def _hash_counts(lazy: pl.LazyFrame, c: str) -> pl.LazyFrame:
    """How often each distinct value occurs, keyed by a 64-bit hash of the value:
    grouping integers is several times cheaper than grouping the strings themselves."""
    x = pl.col(c)
    return lazy.select(x.filter(x.is_not_null()).hash(_HASH_SEED).alias("h")).group_by("h").len("n")


_HASH_SEED = 20260123


def _string_counts(lazy: pl.LazyFrame, strings: list[tuple[ColumnStats, pl.DataFrame]]) -> None:
    """Text columns, once their distinct count is known. A column of few distinct values
    is grouped by value (top values, whitespace, mojibake, case variants on the distinct
    values); a column of many distinct values (free text) gets its top values from the
    hash counts and its whitespace and mojibake counts over the whole column."""
    queries: list[pl.LazyFrame] = []
    handlers: list[Any] = []
    for stats, hashes in strings:
        c = f"c{stats.plan.index}"
        stats.distinct = hashes.height
        if hashes.height <= _CASE_CHECK_LIMIT:
            queries.append(_value_counts(lazy, c))
            handlers.append(lambda frame, s=stats: _read_string_counts(frame, s))
            continue
        top = hashes.top_k(TOP_VALUES, by=["n", "h"], reverse=[False, True])
        x = pl.col(c)
        padded = x.filter(x != x.str.strip_chars())
        broken = x.filter(x.str.contains(MOJIBAKE))
        queries.append(
            lazy.select(
                x.filter(x.hash(_HASH_SEED).is_in(top.get_column("h").implode()))
                .unique()
                .implode()
                .alias("top"),
                padded.len().alias("whitespace"),
                padded.head(EXAMPLES).implode().alias("whitespace_examples"),
                broken.len().alias("mojibake"),
                broken.head(EXAMPLES).implode().alias("mojibake_examples"),
            )
        )
        handlers.append(lambda frame, s=stats, t=top: _read_free_text(frame, s, t))
    for frame, handler in zip(pl.collect_all(queries), handlers, strict=True):
        handler(frame)


def _read_free_text(frame: pl.DataFrame, stats: ColumnStats, top: pl.DataFrame) -> None:
    row = frame.row(0, named=True)
    counts = dict(top.iter_rows())
    by_hash = {pl.Series([v]).hash(_HASH_SEED).item(): v for v in row["top"]}
    ranked = sorted(
        ((by_hash[h], n) for h, n in counts.items() if h in by_hash),
        key=lambda item: (-item[1], item[0]),
    )
    stats.top_values = [{"value": v, "count": n} for v, n in ranked]
    stats.whitespace = int(row["whitespace"])
    stats.whitespace_examples = row["whitespace_examples"]
    stats.mojibake = int(row["mojibake"])
    stats.mojibake_examples = row["mojibake_examples"]


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return float(value)


def _bins(low: float, high: float, integer: bool) -> tuple[float, int]:
    """Bin width and count: one bin per value for integers spanning fewer than
    ``HISTOGRAM_BINS`` values, else ``HISTOGRAM_BINS`` equal bins."""
    if integer and high - low < HISTOGRAM_BINS:
        return 1.0, int(high - low) + 1
    if high == low:
        return 1.0, 1
    return (high - low) / HISTOGRAM_BINS, HISTOGRAM_BINS


def _numeric_shape(lazy: pl.LazyFrame, c: str, stats: ColumnStats) -> pl.LazyFrame:
    assert stats.numeric is not None
    low, high = stats.numeric["min"], stats.numeric["max"]
    mean, std = stats.numeric["mean"], stats.numeric["std"]
    finite = pl.col(c).cast(pl.Float64).drop_nulls()
    if low is None or high is None:
        return lazy.select(pl.lit(None).alias("bin"), pl.lit(0).alias("n")).head(0)
    width, count = _bins(float(low), float(high), stats.plan.parsed_as == "integer")
    index = ((finite - float(low)) / width).floor().clip(0, count - 1).cast(pl.Int32)
    hist = index.alias("bin").value_counts(name="n")
    if std and std > 0 and mean is not None:
        outlier = (finite - mean).abs() > Z_THRESHOLD * std
        n_out = outlier.sum().alias("outliers")
        worst = (finite - mean).abs().filter(outlier).arg_sort(descending=True).head(EXAMPLES)
        examples = finite.filter(outlier).gather(worst).implode().alias("outlier_examples")
    else:
        n_out = pl.lit(0, dtype=pl.UInt32).alias("outliers")
        examples = pl.lit([], dtype=pl.List(pl.Float64)).alias("outlier_examples")
    negative = pl.col(c).filter(pl.col(c) < 0).head(EXAMPLES).cast(pl.Float64).implode()
    return lazy.select(
        hist.implode().alias("hist"),
        n_out,
        examples,
        negative.alias("negative_examples"),
        pl.lit(width).alias("width"),
        pl.lit(count).alias("count"),
        pl.lit(float(low)).alias("low"),
    )


def _read_numeric_shape(frame: pl.DataFrame, stats: ColumnStats) -> None:
    if frame.height == 0:
        return
    row = frame.row(0, named=True)
    width, count, low = row["width"], row["count"], row["low"]
    counts = [0] * count
    for item in row["hist"]:
        counts[item["bin"]] = item["n"]
    stats.histogram = {
        "edges": [low + i * width for i in range(count + 1)],
        "counts": counts,
    }
    stats.outliers = int(row["outliers"] or 0)
    integer = stats.plan.parsed_as == "integer"
    stats.outlier_examples = [_as_kind(v, integer) for v in row["outlier_examples"] or []]
    stats.negative_examples = [_as_kind(v, integer) for v in row["negative_examples"] or []]
    if stats.numeric is not None:
        stats.numeric["outliers_z3"] = stats.outliers


def _as_kind(value: float, integer: bool) -> float | int:
    return int(value) if integer and math.isfinite(value) else value


def _datetime_histogram(lazy: pl.LazyFrame, c: str, stats: ColumnStats) -> pl.LazyFrame:
    assert stats.datetime is not None
    low = _epoch_seconds(stats.datetime["min"])
    high = _epoch_seconds(stats.datetime["max"])
    width, count = _bins(low, high, integer=False)
    seconds = pl.col(c).drop_nulls().dt.epoch("us").cast(pl.Float64) / 1e6
    index = ((seconds - low) / width).floor().clip(0, count - 1).cast(pl.Int32)
    return lazy.select(
        index.alias("bin").value_counts(name="n").implode().alias("hist"),
        pl.lit(width).alias("width"),
        pl.lit(count).alias("count"),
        pl.lit(low).alias("low"),
    )


def _read_calendar(frame: pl.DataFrame, stats: ColumnStats) -> None:
    assert stats.datetime is not None
    row = frame.row(0, named=True)
    if row["first_day"]:
        stats.datetime["granularity"] = "year" if row["january"] else "month"


_EPOCH = dt.datetime(1970, 1, 1)


def _epoch_seconds(value: dt.datetime | None) -> float:
    return 0.0 if value is None else (value - _EPOCH).total_seconds()


def _read_histogram(frame: pl.DataFrame, stats: ColumnStats) -> None:
    row = frame.row(0, named=True)
    width, count, low = row["width"], row["count"], row["low"]
    counts = [0] * count
    for item in row["hist"]:
        counts[item["bin"]] = item["n"]
    stats.histogram = {
        "edges": [_EPOCH + dt.timedelta(seconds=low + i * width) for i in range(count + 1)],
        "counts": counts,
    }


def _value_counts(lazy: pl.LazyFrame, c: str) -> pl.LazyFrame:
    return lazy.select(pl.col(c)).drop_nulls().group_by(c).agg(pl.len().alias("n"))


def _read_top_values(frame: pl.DataFrame, stats: ColumnStats) -> None:
    """The most frequent values, ties broken by the value (so the answer is the same on
    every run: a group-by's order is not)."""
    c = frame.columns[0]
    top = frame.top_k(TOP_VALUES, by=["n", c], reverse=[False, True])
    top = top.sort(["n", c], descending=[True, False])
    stats.top_values = [{"value": v, "count": n} for v, n in top.iter_rows()]


def _read_string_counts(frame: pl.DataFrame, stats: ColumnStats) -> None:
    c = frame.columns[0]
    stats.distinct = frame.height
    _read_top_values(frame, stats)
    if 1 < frame.height <= _CASE_CHECK_LIMIT:
        stats.imbalance = _imbalance(frame.get_column("n").to_list())
    value = pl.col(c)
    padded = frame.filter(value != value.str.strip_chars())
    stats.whitespace = int(padded.get_column("n").sum())
    stats.whitespace_examples = _most_frequent(padded, c)
    broken = frame.filter(value.str.contains(MOJIBAKE))
    stats.mojibake = int(broken.get_column("n").sum())
    stats.mojibake_examples = _most_frequent(broken, c)
    if frame.height <= _CASE_CHECK_LIMIT:
        _read_case_variants(frame, stats)


def _most_frequent(frame: pl.DataFrame, c: str) -> list[Any]:
    top = frame.top_k(EXAMPLES, by=["n", c], reverse=[False, True])
    return top.sort(["n", c], descending=[True, False]).get_column(c).to_list()


_CASE_CHECK_LIMIT = 10_000
"""Distinct values above which a column is not a set of categories to compare by case."""


def _read_case_variants(frame: pl.DataFrame, stats: ColumnStats) -> None:
    """Groups of values equal but for letter case (``Sales``, ``sales``, ``SALES``): the
    most frequent spelling is the category, the others are the affected rows."""
    c = frame.columns[0]
    groups = (
        frame.with_columns(pl.col(c).str.to_lowercase().alias("key"))
        .sort(["n", c], descending=[True, False])
        .group_by("key", maintain_order=True)
        .agg(pl.col(c).alias("spellings"), pl.col("n").alias("counts"))
        .filter(pl.col("spellings").list.len() > 1)
    )
    for spellings, counts in groups.select("spellings", "counts").iter_rows():
        stats.case_variants.append(
            {"value": spellings[0], "variants": dict(zip(spellings, counts, strict=True))}
        )
        stats.case_affected += sum(counts[1:])


def _imbalance(counts: list[int]) -> float | None:
    counts = [n for n in counts if n]
    total = sum(counts)
    if len(counts) < 2 or not total:
        return None
    entropy = -sum(n / total * math.log(n / total) for n in counts)
    return 1 - entropy / math.log(len(counts))


def _safe_n_unique(c: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Struct):
        return pl.struct(pl.col(c)).hash().n_unique().alias("distinct")
    return pl.col(c).n_unique().alias("distinct")


def _read_distinct(frame: pl.DataFrame, stats: ColumnStats) -> None:
    stats.distinct = int(frame.item()) - (1 if stats.null_count else 0)
