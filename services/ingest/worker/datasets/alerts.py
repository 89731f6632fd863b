"""Alerts as ydata-profiling raises them, with its default thresholds where it has one."""

from __future__ import annotations

from typing import Any

from services.ingest.worker.datasets.stats import ColumnStats

HIGH_NULL_SHARE = 0.2
HIGH_CARDINALITY = 50
SKEWNESS = 20.0
IMBALANCE = 0.5
ZEROS_SHARE = 0.1
HIGH_CORRELATION = 0.9


def alerts(
    columns: list[ColumnStats],
    *,
    rows: int,
    duplicate_rows: int,
    correlations: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def alert(kind: str, column: str | None, message: str, value: Any = None) -> None:
        found.append({"type": kind, "column": column, "message": message, "value": value})

    if duplicate_rows:
        share = duplicate_rows / rows
        alert(
            "duplicates",
            None,
            f"{duplicate_rows:,} rows ({share:.1%}) repeat an earlier row exactly.",
            duplicate_rows,
        )
    for s in columns:
        name = s.plan.name
        null_share = s.null_count / s.rows if s.rows else 0.0
        if s.semantic == "empty":
            alert("empty", name, f"{name} has no values at all.")
            continue
        if s.semantic == "constant":
            top = s.top_values[0]["value"] if s.top_values else None
            alert("constant", name, f"{name} has one value for every row ({top!r}).", top)
        if null_share >= HIGH_NULL_SHARE:
            alert(
                "high_null_share",
                name,
                f"{name} is missing in {s.null_count:,} rows ({null_share:.1%}).",
                null_share,
            )
        if s.semantic == "identifier":
            alert(
                "identifier",
                name,
                f"{name} is unique in {s.distinct:,} of {s.count:,} values: likely an identifier.",
                s.distinct,
            )
        elif s.semantic in ("integer", "float", "text") and s.distinct == s.count and s.count > 1:
            alert("unique", name, f"Every value of {name} is different.", s.distinct)
        if s.semantic == "categorical" and (s.distinct or 0) > HIGH_CARDINALITY:
            alert(
                "high_cardinality",
                name,
                f"{name} has {s.distinct:,} distinct categories.",
                s.distinct,
            )
        if s.numeric and s.semantic in ("integer", "float"):
            skew = s.numeric["skewness"]
            if skew is not None and abs(skew) > SKEWNESS:
                alert("skewed", name, f"{name} is highly skewed (skewness {skew:.1f}).", skew)
            zeros = s.numeric["zeros"] / s.count if s.count else 0.0
            if zeros > ZEROS_SHARE:
                alert("zeros", name, f"{name} is zero in {zeros:.1%} of its values.", zeros)
            if s.numeric["infinite"]:
                alert(
                    "infinite",
                    name,
                    f"{name} has {s.numeric['infinite']:,} infinite values.",
                    s.numeric["infinite"],
                )
        if (
            s.semantic in ("categorical", "boolean")
            and s.imbalance is not None
            and s.imbalance > IMBALANCE
        ):
            top = s.top_values[0] if s.top_values else None
            detail = f" ({top['value']!r} is {top['count'] / s.count:.1%})" if top else ""
            alert("imbalanced", name, f"{name} is highly imbalanced{detail}.", s.imbalance)
    if correlations:
        names = correlations["columns"]
        for i, row in enumerate(correlations["pearson"]):
            for j in range(i + 1, len(names)):
                r = row[j]
                if r is not None and abs(r) >= HIGH_CORRELATION:
                    alert(
                        "high_correlation",
                        names[i],
                        f"{names[i]} is highly correlated with {names[j]} (Pearson {r:.2f}).",
                        {"with": names[j], "pearson": r},
                    )
    return found
