"""The generated mixed table, stored as CSV, Parquet and XLSX: the profile finds every
planted issue with its exact row count, and the types and alerts of the ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samples.datasets import GroundTruth, mixed_table, write_csv, write_parquet, write_xlsx
from services.ingest.worker.datasets.profile import DatasetProfile, profile_file

ROWS = 2_000


@pytest.fixture(scope="module")
def truth_and_profiles(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[GroundTruth, dict[str, DatasetProfile]]:
    folder = tmp_path_factory.mktemp("planted")
    frame, truth = mixed_table(ROWS)
    files = {
        "csv": write_csv(frame, folder / "mixed.csv"),
        "parquet": write_parquet(frame, folder / "mixed.parquet"),
        "xlsx": write_xlsx(frame, folder / "mixed.xlsx"),
    }
    return truth, {kind: profile_file(path, path.name) for kind, path in files.items()}


@pytest.mark.parametrize("kind", ["csv", "parquet", "xlsx"])
def test_every_planted_issue_is_found_with_its_row_count(
    truth_and_profiles: Any, kind: str
) -> None:
    truth, profiles = truth_and_profiles
    found = {
        (i["check"], i["column"] or "*"): i["affected_rows"]
        for i in profiles[kind].profile["quality"]
    }
    expected = {(i.check, i.column): i.affected_rows for i in truth.issues}
    assert found == expected


@pytest.mark.parametrize("kind", ["csv", "parquet", "xlsx"])
def test_semantic_types_and_missing_values(truth_and_profiles: Any, kind: str) -> None:
    truth, profiles = truth_and_profiles
    profile = profiles[kind].profile
    assert {c["name"]: c["semantic_type"] for c in profile["columns"]} == truth.semantic_types
    assert {c["name"]: c["null_count"] for c in profile["columns"]} == truth.null_counts
    assert profile["table"]["rows"] == truth.rows
    assert profile["table"]["duplicate_rows"] == truth.duplicate_rows


@pytest.mark.parametrize("kind", ["csv", "parquet", "xlsx"])
def test_alerts(truth_and_profiles: Any, kind: str) -> None:
    truth, profiles = truth_and_profiles
    raised = {(a["type"], a["column"]) for a in profiles[kind].profile["alerts"]}
    assert set(truth.alerts) <= raised
    assert {t for t, _ in raised} <= {
        "duplicates",
        "constant",
        "identifier",
        "high_null_share",
        "skewed",
        "imbalanced",
        "high_cardinality",
        "unique",
        "zeros",
        "infinite",
        "high_correlation",
        "empty",
    }


def test_each_issue_has_a_fix_and_a_severity(truth_and_profiles: Any) -> None:
    _, profiles = truth_and_profiles
    for item in profiles["csv"].profile["quality"]:
        assert item["suggested_fix"]
        assert item["severity"] in ("high", "medium", "low")
        assert 0 < item["share"] <= 1
    mojibake = next(i for i in profiles["csv"].profile["quality"] if i["check"] == "mojibake")
    assert "'cafÃ©' was 'café'" in mojibake["suggested_fix"] or "was" in mojibake["suggested_fix"]


def test_the_workbook_is_described(truth_and_profiles: Any) -> None:
    _, profiles = truth_and_profiles
    source = profiles["xlsx"].profile["source"]
    assert source["format"] == "xlsx"
    assert source["sheet"] == "data"
    assert source["sheets"] == [
        {"index": 0, "name": "data", "rows": ROWS, "columns": 10, "visible": True, "profiled": True}
    ]


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first, truth_a = mixed_table(500)
    second, truth_b = mixed_table(500)
    assert first.equals(second)
    assert truth_a == truth_b
