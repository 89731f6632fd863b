"""The data-quality diagnosis: each problem with its column, the rows it affects and a
suggested fix."""

from __future__ import annotations

from typing import Any

import polars as pl

from services.ingest.worker.datasets.semantic import name_words
from services.ingest.worker.datasets.stats import Z_THRESHOLD, ColumnStats

EXAMPLES = 5
NEGATIVE_CONTENT_SHARE = 0.01
"""A column is non-negative "by content" when at most this share of its values is negative."""

NON_NEGATIVE_WORDS = {
    *("age", "price", "prices", "salary", "salaries", "wage", "wages", "income", "revenue"),
    *("cost", "costs", "amount", "quantity", "qty", "count", "weight", "height", "length"),
    *("width", "depth", "distance", "duration", "size", "population", "fee", "fees", "tax"),
    *("total", "units", "stock", "volume", "area", "speed", "years", "pages", "rooms"),
}
# Word pairs that name the two ends of an interval: start_date / end_date, ...
INTERVAL_WORDS = [
    ("start", "end"),
    ("begin", "end"),
    ("start", "finish"),
    ("from", "to"),
    ("open", "close"),
    ("opened", "closed"),
    ("checkin", "checkout"),
    ("arrival", "departure"),
    ("created", "updated"),
    ("created", "modified"),
    ("birth", "death"),
    ("hired", "terminated"),
    ("pickup", "dropoff"),
    ("valid", "expires"),
    ("issued", "expires"),
]


def figure(value: float | int | None) -> str:
    """A number for a sentence: thousands separated, a few decimals, no exponent."""
    if value is None:
        return "n/a"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    size = abs(value)
    if size >= 1e9 or size < 1e-3:
        return f"{value:.4g}"
    return f"{value:,.{1 if size >= 100 else 2 if size >= 1 else 3}f}"


def count_of(count: int) -> str:
    """``1 value of x is`` / ``3 values of x are``."""
    return f"{count:,} value" if count == 1 else f"{count:,} values"


def verb(count: int) -> str:
    return "is" if count == 1 else "are"


def severity(share: float) -> str:
    return "high" if share >= 0.2 else "medium" if share >= 0.01 else "low"


def diagnose(
    values: pl.DataFrame,
    columns: list[ColumnStats],
    *,
    rows: int,
    duplicate_rows: int,
    duplicate_examples: list[int],
) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []

    def issue(
        check: str,
        column: str | None,
        affected: int,
        message: str,
        fix: str,
        examples: list[Any] | None = None,
        **details: Any,
    ) -> None:
        share = affected / rows if rows else 0.0
        issues.append(
            {
                "check": check,
                "column": column,
                "affected_rows": affected,
                "share": share,
                "severity": severity(share),
                "message": message,
                "suggested_fix": fix,
                "examples": examples or [],
                **details,
            }
        )

    if duplicate_rows:
        issue(
            "duplicate_rows",
            None,
            duplicate_rows,
            f"{duplicate_rows:,} {'row repeats' if duplicate_rows == 1 else 'rows repeat'} an "
            "earlier row exactly.",
            "Remove the repeated rows and keep the first of each, or find out why they were "
            "exported twice.",
            duplicate_examples,
            examples_are="row numbers",
        )
    for s in columns:
        _column_issues(s, issue)
    for start, end in _interval_pairs(columns):
        _start_after_end(values, start, end, issue)
    order = {"high": 0, "medium": 1, "low": 2}
    issues.sort(key=lambda i: (order[i["severity"]], -i["affected_rows"]))
    return issues


def _column_issues(s: ColumnStats, issue: Any) -> None:
    name = s.plan.name
    plan = s.plan
    if s.null_count and s.semantic != "empty":
        share = s.null_count / s.rows
        placeholders = (
            f" ({plan.null_tokens:,} of them placeholders such as NA or null)"
            if plan.null_tokens
            else ""
        )
        issue(
            "missing_values",
            name,
            s.null_count,
            f"{name} is missing in {s.null_count:,} rows ({share:.1%}){placeholders}.",
            _missing_fix(s, share),
        )
    if plan.nonconforming and s.semantic not in ("empty",):
        if plan.family == "string":
            n = plan.nonconforming
            message = f"{count_of(n)} of the text column {name} {verb(n)} numbers."
            fix = (
                "Split the column in two (numbers and labels), or write the numbers as the "
                "labels they stand for."
            )
        else:
            kind = {"datetime": "dates", "boolean": "true/false values"}.get(plan.family, "numbers")
            shown = ", ".join(repr(v) for v in plan.nonconforming_examples[:3])
            message = (
                f"{count_of(plan.nonconforming)} of {name} {verb(plan.nonconforming)} not {kind}, "
                f"unlike the rest of the column (e.g. {shown})."
            )
            fix = (
                f"Rewrite those values as {kind} (e.g. 'five' as 5) or leave them empty; "
                "text mixed into the column keeps tools from treating it as "
                f"{plan.parsed_as}."
            )
        issue("mixed_types", name, plan.nonconforming, message, fix, plan.nonconforming_examples)
    if s.outliers and s.semantic in ("integer", "float") and s.numeric:
        issue(
            "outliers",
            name,
            s.outliers,
            f"{count_of(s.outliers)} of {name} {verb(s.outliers)} more than {Z_THRESHOLD:g} "
            f"standard deviations from the mean ({figure(s.numeric['mean'])} ± "
            f"{figure(s.numeric['std'])}).",
            "Check them for entry errors (an extra zero, another unit); correct or remove "
            "the errors, keep the values that are real.",
            s.outlier_examples,
        )
    if len(plan.date_formats) > 1:
        main, *others = plan.date_formats
        affected = sum(plan.date_formats[f] for f in others)
        issue(
            "mixed_date_formats",
            name,
            affected,
            f"{name} mixes date formats: {affected:,} values are not in its main format {main}.",
            f"Write every date in one format, ideally ISO 8601 (YYYY-MM-DD); the others "
            f"were read as {', '.join(others)}.",
            formats=plan.date_formats,
        )
    if s.negatives and s.semantic in ("integer", "float") and _non_negative(s):
        issue(
            "negative_values",
            name,
            s.negatives,
            f"{count_of(s.negatives)} of {name} {verb(s.negatives)} negative, which {name} "
            "cannot be.",
            "Correct the sign or the value (a typing error or a missing-value code such as "
            "-1), or leave them empty.",
            s.negative_examples,
        )
    if s.whitespace and plan.family == "string":
        issue(
            "whitespace",
            name,
            s.whitespace,
            f"{count_of(s.whitespace)} of {name} start or end with spaces.",
            "Trim leading and trailing spaces: ' Sales' and 'Sales' count as different values.",
            s.whitespace_examples,
        )
    if s.mojibake and plan.family == "string":
        issue(
            "mojibake",
            name,
            s.mojibake,
            f"{count_of(s.mojibake)} of {name} show garbled characters (UTF-8 text decoded "
            "with another encoding).",
            "Re-export the source as UTF-8, or repair the text"
            + _repair_hint(s.mojibake_examples)
            + ".",
            s.mojibake_examples,
        )
    if s.case_affected and s.semantic == "categorical":
        first = s.case_variants[0]
        variants = ", ".join(repr(v) for v in list(first["variants"])[1:4])
        issue(
            "inconsistent_case",
            name,
            s.case_affected,
            f"{name} spells {len(s.case_variants)} categories in several cases "
            f"(e.g. {first['value']!r} also as {variants}).",
            f"Use one spelling for each category (the most frequent one: {first['value']!r}).",
            [v["variants"] for v in s.case_variants[:EXAMPLES]],
        )


def _missing_fix(s: ColumnStats, share: float) -> str:
    if share > 0.5:
        return "More than half the values are missing: consider dropping the column."
    if s.semantic in ("integer", "float") and s.numeric:
        median = s.numeric["quantiles"]["50%"]
        return f"Fill with the median ({figure(median)}) or drop the incomplete rows."
    if s.semantic in ("categorical", "boolean") and s.top_values:
        return (
            f"Fill with the most frequent value ({s.top_values[0]['value']!r}) or an explicit "
            "'Unknown' category."
        )
    if s.semantic == "datetime":
        return "Leave unknown dates empty, or interpolate them in a time series."
    return "Fill the missing values or drop the incomplete rows."


def _non_negative(s: ColumnStats) -> bool:
    if NON_NEGATIVE_WORDS.intersection(name_words(s.plan.name)):
        return True
    return s.count > 0 and s.negatives / s.count <= NEGATIVE_CONTENT_SHARE


def _repair_hint(examples: list[str]) -> str:
    for text in examples:
        try:
            repaired = text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if repaired != text:
            return f" (e.g. {text!r} was {repaired!r})"
    return ""


def _interval_pairs(columns: list[ColumnStats]) -> list[tuple[ColumnStats, ColumnStats]]:
    dates = [s for s in columns if s.semantic == "datetime"]
    words = {s.plan.index: name_words(s.plan.name) for s in dates}
    return [
        (a, b)
        for a in dates
        for b in dates
        if a is not b
        and any(
            _ends(words[a.plan.index], words[b.plan.index], first, second)
            for first, second in INTERVAL_WORDS
        )
    ]


def _ends(start: list[str], end: list[str], first: str, second: str) -> bool:
    """``start`` names the start of what ``end`` names the end of: the same words with
    ``first`` in place of ``second`` (``start_date``/``end_date``, ``check_in``/``check_out``)."""
    if first in start and [second if w == first else w for w in start] == end:
        return True
    joined_start, joined_end = "".join(start), "".join(end)
    return (
        first in joined_start
        and joined_start.replace(first, second, 1) == joined_end
        and (len(first) > 4)
    )


def _start_after_end(
    values: pl.DataFrame, start: ColumnStats, end: ColumnStats, issue: Any
) -> None:
    a, b = f"c{start.plan.index}", f"c{end.plan.index}"
    wrong = values.select((pl.col(a) > pl.col(b)).fill_null(False).alias("w")).to_series()
    count = int(wrong.sum())
    if not count:
        return
    rows = (wrong.arg_true().head(EXAMPLES) + 1).to_list()
    issue(
        "start_after_end",
        start.plan.name,
        count,
        f"In {count:,} {'row' if count == 1 else 'rows'} {start.plan.name} is later than "
        f"{end.plan.name}.",
        "Check those rows: the two dates may be swapped, or one of them mistyped.",
        rows,
        columns=[start.plan.name, end.plan.name],
        examples_are="row numbers",
    )
