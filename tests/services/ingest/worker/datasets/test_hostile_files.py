"""Files an upload must refuse with a reason, or survive: each is refused before it can
cost more than the limits allow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from samples import datasets as samples
from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.sniff import DatasetKind, identify_head


def refused(
    profile: Any, name: str, path: Path, limits: DatasetLimits | None = None
) -> DatasetRefused:
    with pytest.raises(DatasetRefused) as caught:
        profile(name, path, limits)
    return caught.value


def test_a_csv_that_is_a_zip(profile: Any, tmp_path: Path) -> None:
    error = refused(profile, "data.csv", samples.hostile_zip_named_csv(tmp_path / "f"))
    assert error.code == "content_mismatch"
    assert "zip archive" in error.reason
    assert "data.csv" in error.reason


def test_an_xlsx_that_is_text(profile: Any, tmp_path: Path) -> None:
    error = refused(profile, "report.xlsx", samples.hostile_text_named_xlsx(tmp_path / "f"))
    assert error.code == "content_mismatch"
    assert "plain text" in error.reason


def test_an_xlsx_that_is_a_zip_of_something_else(profile: Any, tmp_path: Path) -> None:
    error = refused(profile, "report.xlsx", samples.hostile_plain_zip_named_xlsx(tmp_path / "f"))
    assert error.code == "not_a_workbook"


def test_a_png_named_csv(profile: Any, tmp_path: Path) -> None:
    error = refused(profile, "data.csv", samples.hostile_csv_binary(tmp_path / "f"))
    assert "PNG image" in error.reason


def test_a_gzip_named_csv(profile: Any, tmp_path: Path) -> None:
    error = refused(profile, "data.csv", samples.hostile_csv_gzip(tmp_path / "f"))
    assert "gzip" in error.reason


def test_an_unsupported_extension(profile: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("{}")
    assert refused(profile, "data.json", path).code == "unsupported_file_type"


def test_an_empty_file(profile: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    assert refused(profile, "data.csv", path).code == "empty_file"


def test_a_zip_bomb_is_refused_at_the_limit_without_inflating_it_all(
    profile: Any, tmp_path: Path
) -> None:
    bomb = samples.hostile_xlsx_zip_bomb(tmp_path / "bomb", uncompressed_bytes=64 << 20)
    assert bomb.stat().st_size < 1 << 20
    limits = DatasetLimits(max_decompressed_bytes=8 << 20)
    error = refused(profile, "bomb.xlsx", bomb, limits)
    assert error.code == "zip_bomb"


def test_a_zip_bomb_with_lying_sizes_is_caught_while_inflating(
    profile: Any, tmp_path: Path
) -> None:
    """The directory claims a tiny part; the stream inflates far more."""
    bomb = samples.hostile_xlsx_zip_bomb(tmp_path / "bomb", uncompressed_bytes=32 << 20)
    data = bytearray(bomb.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    # Central directory entry: signature PK\x01\x02, uncompressed size at offset 24.
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    data[at + 24 : at + 28] = (1000).to_bytes(4, "little")
    lying = tmp_path / "lying"
    lying.write_bytes(bytes(data))
    error = refused(profile, "lying.xlsx", lying, DatasetLimits(max_decompressed_bytes=8 << 20))
    assert error.code in ("zip_bomb", "damaged_workbook")


def test_xml_entity_expansion_is_refused(profile: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    error = refused(profile, "laughs.xlsx", samples.hostile_xlsx_entity_expansion(tmp_path / "f"))
    assert error.code == "xml_entities"
    assert "DTD" in error.reason
    assert time.monotonic() - started < 60  # never expanded (a generous bound: loaded CI)


def test_truncated_parquet(profile: Any, tmp_path: Path) -> None:
    error = refused(profile, "t.parquet", samples.hostile_parquet_truncated(tmp_path / "f"))
    assert error.code == "truncated_parquet"


def test_parquet_with_a_damaged_footer(profile: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    assert refused(profile, "d.parquet", path).code == "unreadable_parquet"


def test_too_many_rows(profile: Any, tmp_path: Path) -> None:
    path = samples.hostile_csv_long(tmp_path / "f", 1_001)
    error = refused(profile, "long.csv", path, DatasetLimits(max_rows=1_000))
    assert error.code == "too_many_rows"


def test_too_many_rows_in_parquet_is_refused_from_the_footer(profile: Any, tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "f"
    pl.DataFrame({"n": range(2_000)}).write_parquet(path)
    error = refused(profile, "long.parquet", path, DatasetLimits(max_rows=1_000))
    assert error.code == "too_many_rows"


def test_too_many_columns(profile: Any, tmp_path: Path) -> None:
    path = samples.hostile_csv_wide(tmp_path / "f", 300)
    error = refused(profile, "wide.csv", path, DatasetLimits(max_columns=200))
    assert error.code == "too_many_columns"


def test_a_cell_too_large(profile: Any, tmp_path: Path) -> None:
    path = samples.hostile_csv_huge_cell(tmp_path / "f", 200_000)
    error = refused(profile, "cell.csv", path, DatasetLimits(max_cell_bytes=100_000))
    assert error.code == "cell_too_large"
    assert "'blob'" in error.reason
    assert "row 2" in error.reason


def test_the_upload_route_check_needs_only_the_head() -> None:
    assert identify_head(b"a,b\n1,2\n", "x.csv") == DatasetKind.CSV
    assert identify_head(b"PAR1....", "x.parquet") == DatasetKind.PARQUET
    assert identify_head(b"PK\x03\x04....", "x.xlsx") == DatasetKind.XLSX
    with pytest.raises(DatasetRefused):
        identify_head(b"PK\x03\x04....", "x.csv")
    with pytest.raises(DatasetRefused):
        identify_head(b"a,b\n", "x.parquet")
