"""Generated exports shared by the Skype format tests (written once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from samples.skype import write_export
from samples.skype_truth import GroundTruth


@dataclass(frozen=True)
class Sample:
    path: Path
    truth: GroundTruth


@pytest.fixture(scope="session")
def sample_tar(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    path = tmp_path_factory.mktemp("skype") / "export.tar"
    return Sample(path, write_export(path, 20_000, seed=11))


@pytest.fixture(scope="session")
def sample_json(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    path = tmp_path_factory.mktemp("skype") / "messages.json"
    return Sample(path, write_export(path, 3_000, seed=12, bare=True, hostile=True))
