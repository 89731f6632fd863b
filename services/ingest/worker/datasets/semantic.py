"""The semantic type of a column, from its statistics: what a person would call it."""

from __future__ import annotations

import re

from services.ingest.worker.datasets.stats import ColumnStats

SEMANTIC_TYPES = (
    "integer",
    "float",
    "boolean",
    "datetime",
    "categorical",
    "text",
    "identifier",
    "constant",
    "empty",
    "nested",
    "binary",
)
CATEGORY_LIMIT = 50
"""Up to this many distinct values a text column is categorical whatever its size."""
UNIQUE_SHARE = 0.99
"""Distinct values / values at or above which a column can be an identifier."""
MIN_IDENTIFIER_VALUES = 10

_ID_WORDS = {"id", "uuid", "guid", "key", "code", "number", "no", "nr", "num", "ref", "sku"}
_ID_WORDS |= {"isbn", "ean", "serial", "pk", "identifier"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def name_words(name: str) -> list[str]:
    """``customerId``, ``Customer ID`` and ``customer_id`` all give ``[customer, id]``."""
    return [w for w in _NON_WORD.split(_CAMEL.sub("_", name).lower()) if w]


def looks_like_identifier_name(name: str) -> bool:
    words = name_words(name)
    return bool(words) and (words[-1] in _ID_WORDS or name.lower().endswith("id"))


def semantic_type(stats: ColumnStats) -> str:
    plan = stats.plan
    if stats.count == 0 or plan.family == "empty":
        return "empty"
    if stats.distinct == 1:
        return "constant"
    if plan.family in ("boolean", "datetime", "nested", "binary"):
        return plan.family
    if plan.family == "numeric":
        if plan.parsed_as == "integer" and _integer_identifier(stats):
            return "identifier"
        return "integer" if plan.parsed_as == "integer" else "float"
    return _string_type(stats)


def _unique_share(stats: ColumnStats) -> float:
    return (stats.distinct or 0) / stats.count if stats.count else 0.0


def _integer_identifier(stats: ColumnStats) -> bool:
    if _unique_share(stats) < UNIQUE_SHARE or stats.negatives:
        return False
    if looks_like_identifier_name(stats.plan.name):
        return True
    if stats.count < MIN_IDENTIFIER_VALUES or stats.numeric is None:
        return False
    low, high = stats.numeric["min"], stats.numeric["max"]
    dense = low is not None and high is not None and high - low + 1 <= 1.5 * stats.count
    return stats.monotonic or dense


def _string_type(stats: ColumnStats) -> str:
    distinct = stats.distinct or 0
    words = (stats.text or {}).get("words_mean") or 1.0
    named = looks_like_identifier_name(stats.plan.name)
    if (
        _unique_share(stats) >= UNIQUE_SHARE
        and words < 1.01
        and stats.count >= MIN_IDENTIFIER_VALUES
        and (named or distinct > CATEGORY_LIMIT)
    ):
        return "identifier"
    if distinct <= CATEGORY_LIMIT or distinct <= 0.5 * stats.count:
        return "categorical"
    return "text" if words >= 1.5 else "categorical"
