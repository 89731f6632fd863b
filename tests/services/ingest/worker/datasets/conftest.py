"""Helpers for the dataset reader and profile tests (in-process: pure functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.profile import DatasetProfile, profile_file


@pytest.fixture
def profile(tmp_path: Path) -> Any:
    """``profile(name, data_or_path, limits=None)``: write ``data`` (bytes) as ``name`` and
    profile it; a Path is profiled as it is, under ``name``."""

    def run(name: str, data: bytes | Path, limits: DatasetLimits | None = None) -> DatasetProfile:
        path = (
            data if isinstance(data, Path) else tmp_path / f"upload-{len(list(tmp_path.iterdir()))}"
        )
        if not isinstance(data, Path):
            path.write_bytes(data)
        return profile_file(path, name, limits)

    return run


def column(result: DatasetProfile, name: str) -> dict[str, Any]:
    return next(c for c in result.profile["columns"] if c["name"] == name)


def issues(result: DatasetProfile, check: str) -> dict[str | None, int]:
    return {
        i["column"]: i["affected_rows"] for i in result.profile["quality"] if i["check"] == check
    }
