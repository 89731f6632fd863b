"""Workbooks with several sheets and formulas; Parquet with nested and unusual types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samples.datasets import parquet_unusual_types, xlsx_sheets_and_formulas
from tests.services.ingest.worker.datasets.conftest import column


def test_first_sheet_profiled_all_listed_formulas_as_values(profile: Any, tmp_path: Path) -> None:
    result = profile("orders.xlsx", xlsx_sheets_and_formulas(tmp_path / "f"))
    source = result.profile["source"]
    assert [s["name"] for s in source["sheets"]] == ["Orders", "Customers", "Empty"]
    assert [s["profiled"] for s in source["sheets"]] == [True, False, False]
    assert source["sheets"][1]["columns"] == 2
    assert source["sheets"][2]["columns"] == 0
    assert result.preview["columns"] == ["item", "qty", "price", "total"]
    # The formula column holds the cached results; nothing is evaluated.
    assert [r[3] for r in result.preview["rows"][:4]] == [1.5, 1.5, 2.0, 2.5]
    assert result.preview["rows"][4][0] == "=cmd|' /C calc'!A0"
    assert column(result, "qty")["semantic_type"] == "integer"


def test_a_first_sheet_without_data_gives_way_to_the_next(profile: Any, tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "f.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Cover")
    data = workbook.add_worksheet("Data")
    data.write_row(0, 0, ["a", "b"])
    data.write_row(1, 0, [1, 2])
    workbook.close()
    result = profile("f.xlsx", path)
    assert result.profile["source"]["sheet"] == "Data"
    assert any(w["code"] == "sheet_skipped" for w in result.profile["warnings"])


def test_parquet_nested_and_unusual_types(profile: Any, tmp_path: Path) -> None:
    result = profile("odd.parquet", parquet_unusual_types(tmp_path / "f"))
    types = {c["name"]: c["semantic_type"] for c in result.profile["columns"]}
    assert types == {
        "tags": "nested",
        "point": "nested",
        "amount": "float",
        "at": "categorical",
        "took": "float",
        "blob": "binary",
        "kind": "categorical",
        "big": "integer",
    }
    assert column(result, "amount")["numeric"]["sum"] == 13.75
    assert column(result, "took")["numeric"]["max"] == 120.0
    assert column(result, "tags")["length"] == {
        "length_min": 0,
        "length_max": 2,
        "length_mean": 1.0,
    }
    assert column(result, "big")["numeric"]["max"] == 2**63 + 5
    assert result.preview["rows"][0][:2] == [["a", "b"], {"x": 1, "y": 2}]
    assert result.preview["rows"][0][5].startswith("<2 bytes: 0001")


def test_time_zone_aware_datetimes_are_profiled_in_utc(profile: Any, tmp_path: Path) -> None:
    import datetime as dt

    import polars as pl

    path = tmp_path / "tz.parquet"
    pl.DataFrame(
        {"at": [dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))] * 3}
    ).with_columns(pl.col("at").dt.convert_time_zone("Europe/Oslo")).write_parquet(path)
    result = profile("tz.parquet", path)
    at = column(result, "at")
    assert at["datetime"]["min"] == "2024-01-01T10:00:00"
    assert "times converted to UTC" in at["notes"]
