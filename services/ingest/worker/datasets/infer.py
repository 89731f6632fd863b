"""What each column holds: its storage family and the typed values the statistics run on.

Text cells (all of a CSV, strings in a workbook or a Parquet file) are typed here, not
by the reader, so a column of numbers with a few words in it is an integer column with
``nonconforming`` values (the "mixed types" diagnosis) instead of a text column or a
read error. The parser is chosen on a sample; then one full-column parse with it; only
the values it rejected are looked at again (other date formats, floats among integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

Family = Literal["numeric", "string", "datetime", "boolean", "nested", "binary", "empty"]

# Placeholders for a missing value, matched exactly (no lower-casing of every cell).
NULL_TOKENS = [
    *("", "NA", "na", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "Null"),
    *("None", "none", "NONE", "#N/A", "#NA", "nil", "NIL", "-", "--", "?"),
]
TRUE_TOKENS = ["true", "yes", "y", "t"]
FALSE_TOKENS = ["false", "no", "n", "f"]
# Every common spelling, matched exactly (a hash lookup instead of lower-casing each cell).
_BOOLEAN_SPELLINGS = {
    spelling: truth
    for tokens, truth in ((TRUE_TOKENS, True), (FALSE_TOKENS, False))
    for token in tokens
    for spelling in (token, token.upper(), token.capitalize())
}
SAMPLE_ROWS = 10_000
MAJORITY = 0.5
MIXED_TEXT_SHARE = 0.05
"""A text column is "mixed" when at least this share of its sample are numbers."""

# (label, polars format, time zone aware)
DATE_FORMATS: list[tuple[str, str, bool]] = [
    ("YYYY-MM-DD", "%Y-%m-%d", False),
    ("YYYY-MM-DD hh:mm:ss", "%Y-%m-%d %H:%M:%S", False),
    ("YYYY-MM-DDThh:mm:ss", "%Y-%m-%dT%H:%M:%S", False),
    ("YYYY-MM-DD hh:mm:ss.f", "%Y-%m-%d %H:%M:%S%.f", False),
    ("YYYY-MM-DDThh:mm:ss.f", "%Y-%m-%dT%H:%M:%S%.f", False),
    ("YYYY-MM-DD hh:mm", "%Y-%m-%d %H:%M", False),
    ("YYYY-MM-DDThh:mm", "%Y-%m-%dT%H:%M", False),
    ("YYYY-MM-DDThh:mm:ssZ", "%Y-%m-%dT%H:%M:%SZ", False),
    ("YYYY-MM-DDThh:mm:ss.fZ", "%Y-%m-%dT%H:%M:%S%.fZ", False),
    ("YYYY-MM-DDThh:mm:ss+hh:mm", "%Y-%m-%dT%H:%M:%S%z", True),
    ("YYYY-MM-DD hh:mm:ss+hh:mm", "%Y-%m-%d %H:%M:%S%z", True),
    ("DD/MM/YYYY", "%d/%m/%Y", False),
    ("MM/DD/YYYY", "%m/%d/%Y", False),
    ("DD/MM/YYYY hh:mm", "%d/%m/%Y %H:%M", False),
    ("MM/DD/YYYY hh:mm", "%m/%d/%Y %H:%M", False),
    ("DD/MM/YYYY hh:mm:ss", "%d/%m/%Y %H:%M:%S", False),
    ("MM/DD/YYYY hh:mm:ss", "%m/%d/%Y %H:%M:%S", False),
    ("DD.MM.YYYY", "%d.%m.%Y", False),
    ("DD.MM.YYYY hh:mm", "%d.%m.%Y %H:%M", False),
    ("DD.MM.YYYY hh:mm:ss", "%d.%m.%Y %H:%M:%S", False),
    ("YYYY/MM/DD", "%Y/%m/%d", False),
    ("YYYY/MM/DD hh:mm:ss", "%Y/%m/%d %H:%M:%S", False),
    ("DD-MM-YYYY", "%d-%m-%Y", False),
    ("MM-DD-YYYY", "%m-%d-%Y", False),
    ("DD Mon YYYY", "%d %b %Y", False),
    ("DD Month YYYY", "%d %B %Y", False),
    ("Mon DD, YYYY", "%b %d, %Y", False),
    ("Month DD, YYYY", "%B %d, %Y", False),
]
_FORMATS = {label: (fmt, aware) for label, fmt, aware in DATE_FORMATS}
_DAY_FIRST = {label for label, _, _ in DATE_FORMATS if label.startswith("DD")}
_MONTH_FIRST = {label for label, _, _ in DATE_FORMATS if label.startswith("MM")}
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"
# Digits and separators as in a date (2024-01-31, 31/01/2024, 31 Jan 2024, Jan 31, 2024).
_DATE_SHAPE = (
    r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"|^\d{1,2} [A-Za-z]{3,9}\.? \d{4}"
    r"|^[A-Za-z]{3,9}\.? \d{1,2}, \d{4}"
)
_EXAMPLES = 5


@dataclass
class ColumnPlan:
    name: str
    index: int
    source_type: str
    family: Family
    parsed_as: str
    """integer, float, boolean, datetime, string, nested, binary or empty."""
    from_text: bool = False
    nonconforming: int = 0
    """Values the column's parser rejects (words in a number column); in a text
    column, the values that are numbers."""
    nonconforming_examples: list[str] = field(default_factory=list)
    date_formats: dict[str, int] = field(default_factory=dict)
    """Values read by each format; the first is the column's own."""
    null_tokens: int = 0
    """Cells that held a placeholder for a missing value (``NA``, ``null``, ``-``)."""
    notes: list[str] = field(default_factory=list)
    strip: bool = False
    decimal_comma: bool = False
    count_numbers: bool = False
    """A text column whose sample holds numbers: count them over the whole column."""
    present: int = 0
    """Cells that hold a value (not missing): parsed, rejected or infinite."""
    infinite: int = 0
    """Infinite floats: present, but left out of the statistics."""


@dataclass
class TypedTable:
    values: pl.DataFrame
    """One column per input column, typed by ``plans``; named ``c0``, ``c1``, ..."""
    text: dict[int, pl.Series]
    """Text columns as read with placeholders nulled, by column index (whitespace, case
    and mojibake checks run on these)."""
    plans: list[ColumnPlan]


def type_columns(frame: pl.DataFrame, *, workbook: bool = False) -> TypedTable:
    """Type every column of ``frame``. ``workbook`` says the numbers came from
    spreadsheet cells, where whole numbers are stored as floats."""
    text_indexes = [
        i for i, dtype in enumerate(frame.dtypes) if dtype in (pl.String, pl.Categorical)
    ]
    cleaned = _nulled_placeholders(frame, text_indexes)
    text = {i: cleaned[k] for k, i in enumerate(text_indexes)}
    choices = _choose_parsers(cleaned, text_indexes)
    plans: list[ColumnPlan] = []
    exprs: list[pl.Expr] = []
    for index, (name, dtype) in enumerate(frame.schema.items()):
        alias = f"c{index}"
        if index in text:
            plan = choices[index]
            plan.null_tokens = text[index].null_count() - frame.get_column(name).null_count()
            exprs.append(_parse(pl.lit(text[index]), plan).alias(alias))
        else:
            plan, expr = _native(name, index, dtype, pl.col(name))
            exprs.append(expr.alias(alias))
        plans.append(plan)
    values = frame.select(exprs)
    values = _resolve_rejected(values, text, plans)
    counts = values.select(pl.all().count()).row(0)
    for plan, count in zip(plans, counts, strict=True):
        plan.present = text[plan.index].count() if plan.index in text else int(count)
    values = _infinities_as_missing(values, plans)
    if workbook:
        values = _whole_floats_as_integers(values, plans)
    return TypedTable(values=values, text=text, plans=plans)


def _infinities_as_missing(values: pl.DataFrame, plans: list[ColumnPlan]) -> pl.DataFrame:
    floats = [p for p in plans if p.parsed_as == "float"]
    if not floats:
        return values
    found = values.select(
        [pl.col(f"c{p.index}").is_infinite().sum().alias(f"c{p.index}") for p in floats]
    ).row(0, named=True)
    fixed = []
    for p in floats:
        p.infinite = int(found[f"c{p.index}"] or 0)
        if p.infinite:
            column = pl.col(f"c{p.index}")
            fixed.append(
                pl.when(column.is_infinite()).then(None).otherwise(column).alias(f"c{p.index}")
            )
    return values.with_columns(fixed) if fixed else values


def _nulled_placeholders(frame: pl.DataFrame, indexes: list[int]) -> list[pl.Series]:
    """The text columns with placeholders for a missing value set to null. A column
    without any is returned as it is (no copy of a million strings for nothing)."""
    if not indexes:
        return []
    names = [frame.columns[i] for i in indexes]
    text = [pl.col(n).cast(pl.String) for n in names]
    found = frame.select(
        [t.is_in(NULL_TOKENS).any().alias(n) for t, n in zip(text, names, strict=True)]
    ).row(0)
    exprs = [
        pl.when(t.is_in(NULL_TOKENS)).then(None).otherwise(t).alias(n) if has else t.alias(n)
        for t, n, has in zip(text, names, found, strict=True)
    ]
    return frame.select(exprs).get_columns()


def _native(
    name: str, index: int, dtype: pl.DataType, source: pl.Expr
) -> tuple[ColumnPlan, pl.Expr]:
    label = str(dtype)

    def plan(family: Family, parsed_as: str, note: str | None = None) -> ColumnPlan:
        return ColumnPlan(
            name=name,
            index=index,
            source_type=label,
            family=family,
            parsed_as=parsed_as,
            notes=[note] if note else [],
        )

    if dtype == pl.Boolean:
        return plan("boolean", "boolean"), source
    if dtype.is_integer():
        if dtype == pl.UInt64:
            return plan("numeric", "integer", "unsigned 64-bit values"), source
        return plan("numeric", "integer"), source.cast(pl.Int64)
    if dtype.is_float():
        # NaN is a missing value (as in pandas), not a number the statistics should see.
        return plan("numeric", "float"), source.cast(pl.Float64).fill_nan(None)
    if dtype.is_decimal():
        note = "decimal values profiled as floats"
        return plan("numeric", "float", note), source.cast(pl.Float64)
    if dtype == pl.Date:
        return plan("datetime", "datetime"), source.cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            utc = source.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            return plan("datetime", "datetime", "times converted to UTC"), utc.cast(
                pl.Datetime("us")
            )
        return plan("datetime", "datetime"), source.cast(pl.Datetime("us"))
    if isinstance(dtype, pl.Duration):
        seconds = source.dt.total_microseconds().cast(pl.Float64) / 1e6
        return plan("numeric", "float", "durations profiled in seconds"), seconds
    if dtype == pl.Time:
        note = "times of day profiled as text"
        return plan("string", "string", note), source.dt.to_string("%H:%M:%S")
    if isinstance(dtype, pl.Enum):
        return plan("string", "string"), source.cast(pl.String)
    if dtype == pl.Binary:
        return plan("binary", "binary"), source
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
        return plan("nested", "nested"), source
    if dtype == pl.Null:
        return plan("empty", "empty"), source
    raise UnsupportedColumnType(name, label)


class UnsupportedColumnType(TypeError):
    def __init__(self, column: str, dtype: str) -> None:
        super().__init__(f"column {column!r} has type {dtype}")
        self.column = column
        self.dtype = dtype


def _sample(series: list[pl.Series]) -> pl.DataFrame:
    """The first rows and rows spread evenly over the rest: a column that starts empty
    or changes halfway is still seen."""
    frame = pl.DataFrame(series)
    if frame.height <= SAMPLE_ROWS:
        return frame
    half = SAMPLE_ROWS // 2
    step = max(1, (frame.height - half) // half)
    return pl.concat([frame.head(half), frame.slice(half).gather_every(step)])


def _parse_date(expr: pl.Expr, label: str) -> pl.Expr:
    fmt, aware = _FORMATS[label]
    if aware:
        parsed = expr.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False, exact=True)
        return parsed.dt.replace_time_zone(None)
    return expr.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True)


def _choose_parsers(cleaned: list[pl.Series], indexes: list[int]) -> dict[int, ColumnPlan]:
    if not indexes:
        return {}
    sample = _sample([s.rename(f"s{k}") for k, s in enumerate(cleaned)])
    exprs: list[pl.Expr] = []
    for k in range(len(indexes)):
        raw = pl.col(f"s{k}")
        value = raw.str.strip_chars()
        lowered = value.str.to_lowercase()
        exprs += [
            raw.count().alias(f"{k}_n"),
            (raw != value).sum().alias(f"{k}_padded"),
            value.cast(pl.Int64, strict=False).count().alias(f"{k}_int"),
            value.cast(pl.Float64, strict=False).count().alias(f"{k}_float"),
            value.str.contains(_DECIMAL_COMMA).sum().alias(f"{k}_comma"),
            lowered.is_in(TRUE_TOKENS + FALSE_TOKENS).sum().alias(f"{k}_bool"),
            lowered.n_unique().alias(f"{k}_bool_distinct"),
            value.str.contains(_DATE_SHAPE).sum().alias(f"{k}_date_shape"),
        ]
    counts = sample.select(exprs).row(0, named=True)
    # Only columns most of whose values look like dates try the date formats.
    dated = [
        k for k in range(len(indexes)) if counts[f"{k}_date_shape"] >= MAJORITY * counts[f"{k}_n"]
    ]
    date_exprs = [
        _parse_date(pl.col(f"s{k}").str.strip_chars(), label).count().alias(f"{k}_date_{label}")
        for k in dated
        for label, _, _ in DATE_FORMATS
    ]
    if date_exprs:
        counts.update(sample.select(date_exprs).row(0, named=True))
    return {
        index: _choose(series, index, counts, k)
        for k, (index, series) in enumerate(zip(indexes, cleaned, strict=True))
    }


def _choose(series: pl.Series, index: int, counts: dict[str, int], k: int) -> ColumnPlan:
    def plan(family: Family, parsed_as: str) -> ColumnPlan:
        return ColumnPlan(
            name=series.name,
            index=index,
            source_type="String",
            family=family,
            parsed_as=parsed_as,
            from_text=True,
            strip=counts[f"{k}_padded"] > 0,
        )

    total = counts[f"{k}_n"]
    if total == 0:
        return plan("empty", "empty")
    integers, floats, comma = counts[f"{k}_int"], counts[f"{k}_float"], counts[f"{k}_comma"]
    dates = {label: counts.get(f"{k}_date_{label}", 0) for label, _, _ in DATE_FORMATS}
    best_date = max(dates, key=lambda label: dates[label])
    numbers = max(integers, floats, comma)
    if counts[f"{k}_bool"] == total and counts[f"{k}_bool_distinct"] <= 2:
        return plan("boolean", "boolean")
    if numbers >= MAJORITY * total and numbers >= dates[best_date]:
        if integers >= floats and integers >= comma:
            return plan("numeric", "integer")
        chosen = plan("numeric", "float")
        if comma > floats:
            chosen.decimal_comma = True
            chosen.notes.append("decimal commas read as decimal points")
        return chosen
    if dates[best_date] >= MAJORITY * total:
        chosen = plan("datetime", "datetime")
        chosen.date_formats = {label: 0 for label in _format_order(dates, best_date)}
        return chosen
    chosen = plan("string", "string")
    if floats >= MIXED_TEXT_SHARE * total:
        chosen.count_numbers = True
    return chosen


def _format_order(dates: dict[str, int], best: str) -> list[str]:
    """The winning format first, then the others; where a value reads both day-first
    and month-first (``05/06/2024``), the family the sample saw more of comes first."""
    day_first = sum(n for label, n in dates.items() if label in _DAY_FIRST)
    month_first = sum(n for label, n in dates.items() if label in _MONTH_FIRST)
    losing = _MONTH_FIRST if day_first >= month_first else _DAY_FIRST
    rest = sorted((label for label in dates if label != best), key=lambda label: label in losing)
    return [best, *rest]


def _parse(source: pl.Expr, plan: ColumnPlan) -> pl.Expr:
    value = source.str.strip_chars() if plan.strip else source
    if plan.parsed_as == "integer":
        return value.cast(pl.Int64, strict=False)
    if plan.parsed_as == "float":
        if plan.decimal_comma:
            value = value.str.replace(",", ".", literal=True)
        return value.cast(pl.Float64, strict=False)
    if plan.parsed_as == "boolean":
        return value.replace_strict(_BOOLEAN_SPELLINGS, default=None, return_dtype=pl.Boolean)
    if plan.parsed_as == "datetime":
        return _parse_date(value, next(iter(plan.date_formats)))
    return source


def _resolve_rejected(
    values: pl.DataFrame, text: dict[int, pl.Series], plans: list[ColumnPlan]
) -> pl.DataFrame:
    """Count what each text column's parser rejected, and look at just those values:
    other date formats, floats among integers, numbers among words."""
    typed = [p for p in plans if p.from_text and p.family in ("numeric", "boolean", "datetime")]
    rejected_masks = {
        p.index: text[p.index].is_not_null() & values.get_column(f"c{p.index}").is_null()
        for p in typed
    }
    replaced: dict[str, pl.Series] = {}
    for p in typed:
        mask = rejected_masks[p.index]
        rejected = text[p.index].filter(mask)
        if p.family == "datetime":
            parsed = values.get_column(f"c{p.index}")
            p.date_formats[next(iter(p.date_formats))] = parsed.count()
            if rejected.len():
                fixed, counts = _other_formats(rejected, p)
                p.date_formats.update(counts)
                replaced[f"c{p.index}"] = parsed.scatter(mask.arg_true(), fixed)
                rejected = rejected.filter(fixed.is_null())
            p.date_formats = {label: n for label, n in p.date_formats.items() if n}
        elif p.parsed_as == "boolean" and rejected.len():
            lowered = rejected.str.strip_chars().str.to_lowercase()
            fixed = lowered.replace_strict(
                _BOOLEAN_SPELLINGS, default=None, return_dtype=pl.Boolean
            )
            if fixed.count():
                parsed = values.get_column(f"c{p.index}")
                replaced[f"c{p.index}"] = parsed.scatter(mask.arg_true(), fixed)
                rejected = rejected.filter(fixed.is_null())
        elif p.parsed_as == "integer" and rejected.len():
            floats = _parse(pl.lit(rejected), _as_float(p))
            if pl.select(floats.count()).item() > 0:
                p.parsed_as = "float"
                column = pl.select(_parse(pl.lit(text[p.index]), p)).to_series()
                replaced[f"c{p.index}"] = column
                rejected = text[p.index].filter(text[p.index].is_not_null() & column.is_null())
        p.nonconforming = rejected.len()
        p.nonconforming_examples = rejected.unique(maintain_order=True).head(_EXAMPLES).to_list()
    for p in plans:
        if p.count_numbers and p.index in text:
            source = text[p.index]
            is_number = source.str.strip_chars().cast(pl.Float64, strict=False).is_not_null()
            numbers = source.filter(is_number)
            p.nonconforming = numbers.len()
            p.nonconforming_examples = numbers.unique(maintain_order=True).head(_EXAMPLES).to_list()
    if replaced:
        values = values.with_columns([series.alias(name) for name, series in replaced.items()])
    return values


def _as_float(plan: ColumnPlan) -> ColumnPlan:
    return ColumnPlan(
        name=plan.name,
        index=plan.index,
        source_type=plan.source_type,
        family="numeric",
        parsed_as="float",
        strip=True,
    )


def _other_formats(rejected: pl.Series, plan: ColumnPlan) -> tuple[pl.Series, dict[str, int]]:
    """The rejected values parsed by the column's other formats, each value credited to
    the first format that reads it."""
    frame = rejected.str.strip_chars().to_frame("v")
    parsed = pl.Series("d", [None] * frame.height, dtype=pl.Datetime("us"))
    counts: dict[str, int] = {}
    for label in list(plan.date_formats)[1:]:
        attempt = frame.select(_parse_date(pl.col("v"), label)).to_series()
        new = parsed.is_null() & attempt.is_not_null()
        found = int(new.sum())
        if found:
            counts[label] = found
            parsed = pl.select(
                pl.when(pl.lit(new)).then(pl.lit(attempt)).otherwise(pl.lit(parsed))
            ).to_series()
            if parsed.null_count() == 0:
                break
    return parsed, counts


def _whole_floats_as_integers(values: pl.DataFrame, plans: list[ColumnPlan]) -> pl.DataFrame:
    """Spreadsheet numbers are doubles: a float column of whole numbers is integers."""
    candidates = [p for p in plans if p.parsed_as == "float" and not p.from_text]
    if not candidates:
        return values
    checks = values.select(
        [
            (
                (pl.col(f"c{p.index}") == pl.col(f"c{p.index}").floor()).all()
                & (pl.col(f"c{p.index}").abs().max().fill_null(0) < 2.0**53)
            ).alias(f"c{p.index}")
            for p in candidates
        ]
    ).row(0, named=True)
    whole = [p for p in candidates if checks[f"c{p.index}"]]
    for p in whole:
        p.parsed_as = "integer"
    if not whole:
        return values
    return values.with_columns([pl.col(f"c{p.index}").cast(pl.Int64) for p in whole])
