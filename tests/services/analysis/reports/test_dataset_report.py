"""The dataset report: self-contained HTML with histograms and the correlation matrix,
every user-supplied string escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from samples.datasets import mixed_table, write_csv
from services.analysis.reports.dataset import render_dataset_report
from services.ingest.worker.datasets.profile import profile_file

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    import polars as pl

    frame, _ = mixed_table(500)
    frame = frame.rename({"department": HOSTILE}).with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("<img src=x onerror=alert(1)>"))
        .otherwise(pl.col(HOSTILE))
        .alias(HOSTILE)
    )
    path = write_csv(frame, tmp_path_factory.mktemp("report") / "mixed.csv")
    result = profile_file(path, path.name)
    return render_dataset_report(result.profile, title=f"{HOSTILE}.csv", preview=result.preview)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def test_user_content_is_escaped(report: str) -> None:
    parser = _Collector()
    parser.feed(report)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert not any(name.startswith("on") for name, _ in parser.attributes)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in report


def test_self_contained(report: str) -> None:
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", report)
    assert "<link" not in report
    assert "default-src 'none'" in report
    assert "<meta name='viewport'" in report


def test_histograms_and_the_correlation_matrix(report: str) -> None:
    assert report.count("aria-label='histogram'") >= 5
    assert "aria-label='Pearson correlation matrix'" in report
    assert "aria-label='Spearman correlation matrix'" in report
    for section in ("Alerts", "Data quality", "Columns", "Correlations", "First rows"):
        assert f"<h2>{section}</h2>" in report
    assert "mojibake" in report
    assert "start after end" in report


def test_a_profile_without_numbers_renders(tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    path.write_text("word\nalpha\nbeta\n")
    result = profile_file(path, "words.csv")
    html = render_dataset_report(result.profile, title="words.csv", preview=result.preview)
    assert "<h2>Correlations</h2>" not in html
    assert "alpha" in html
