"""The profile's figures, checked against numbers computed here independently with the
standard library on small tables."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from typing import Any

import orjson
import pytest

from tests.services.ingest.worker.datasets.conftest import column, issues

random.seed(7)
N = 400
AGES = [random.randint(18, 80) for _ in range(N)]
for i in (5, 77, 301):
    AGES[i] = None  # type: ignore[call-overload]
HEIGHTS = [round(random.gauss(170, 8), 1) for _ in range(N)]
HEIGHTS[10] = 320.0  # an outlier
WEIGHTS = [round(h * 0.45 + random.gauss(0, 4), 1) for h in HEIGHTS]
TEAMS = [random.choice(["red", "blue", "green", "blue"]) for _ in range(N)]
TEAMS[3], TEAMS[4] = "Red", "RED"
JOINED = [f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(N)]


def csv_bytes() -> bytes:
    lines = ["age,height,weight,team,joined"]
    for row in zip(AGES, HEIGHTS, WEIGHTS, TEAMS, JOINED, strict=True):
        lines.append(",".join("" if v is None else str(v) for v in row))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from services.ingest.worker.datasets.profile import profile_file

    path = tmp_path_factory.mktemp("figures") / "people.csv"
    path.write_bytes(csv_bytes())
    return profile_file(path, "people.csv")


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), by hand."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def ranks(values: list[float]) -> list[float]:
    ordered = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and values[ordered[j + 1]] == values[ordered[i]]:
            j += 1
        for k in range(i, j + 1):
            result[ordered[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def adjusted_skewness(values: list[float]) -> float:
    n = len(values)
    mean = statistics.fmean(values)
    m2 = sum((v - mean) ** 2 for v in values) / n
    m3 = sum((v - mean) ** 3 for v in values) / n
    return math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5


def test_the_profile_is_json(result: Any) -> None:
    text = orjson.dumps(result.profile)
    assert b"NaN" not in text
    assert b"Infinity" not in text
    assert orjson.loads(text) == result.profile


def test_whole_table(result: Any) -> None:
    table = result.profile["table"]
    assert table["rows"] == N
    assert table["columns"] == 5
    assert table["missing_cells"] == 3
    assert table["duplicate_rows"] == 0
    assert table["types"] == {"integer": 1, "float": 2, "categorical": 1, "datetime": 1}


def test_integer_column(result: Any) -> None:
    age = column(result, "age")
    present = [a for a in AGES if a is not None]
    assert age["semantic_type"] == "integer"
    assert age["null_count"] == 3
    assert age["null_share"] == pytest.approx(3 / N)
    assert age["distinct"] == len(set(present))
    numeric = age["numeric"]
    assert numeric["min"] == min(present)
    assert numeric["max"] == max(present)
    assert numeric["mean"] == pytest.approx(statistics.fmean(present))
    assert numeric["std"] == pytest.approx(statistics.stdev(present))
    assert numeric["sum"] == sum(present)
    for label, q in (("5%", 0.05), ("25%", 0.25), ("50%", 0.5), ("75%", 0.75), ("95%", 0.95)):
        assert numeric["quantiles"][label] == pytest.approx(quantile(present, q))
    assert numeric["skewness"] == pytest.approx(adjusted_skewness(present))
    top = Counter(present).most_common()
    best = max(n for _, n in top)
    assert age["top_values"][0]["count"] == best
    assert age["top_values"][0]["value"] == min(v for v, n in top if n == best)


def test_histogram_counts_every_value_once(result: Any) -> None:
    height = column(result, "height")
    hist = height["histogram"]
    assert sum(hist["counts"]) == N
    low, high = min(HEIGHTS), max(HEIGHTS)
    width = (high - low) / 20
    expected = [0] * 20
    for h in HEIGHTS:
        expected[min(int((h - low) / width), 19)] += 1
    assert hist["counts"] == expected
    assert hist["edges"][0] == pytest.approx(low)
    assert hist["edges"][-1] == pytest.approx(high)


def test_outliers_by_z_score(result: Any) -> None:
    mean, std = statistics.fmean(HEIGHTS), statistics.stdev(HEIGHTS)
    expected = sum(abs(h - mean) > 3 * std for h in HEIGHTS)
    assert expected >= 1
    assert column(result, "height")["numeric"]["outliers_z3"] == expected
    assert issues(result, "outliers")["height"] == expected
    found = next(
        i for i in result.profile["quality"] if i["check"] == "outliers" and i["column"] == "height"
    )
    assert found["examples"][0] == 320.0


def test_correlations(result: Any) -> None:
    matrix = result.profile["correlations"]
    assert matrix["columns"] == ["age", "height", "weight"]
    assert matrix["pearson"][1][2] == pytest.approx(statistics.correlation(HEIGHTS, WEIGHTS))
    assert matrix["spearman"][1][2] == pytest.approx(
        statistics.correlation(ranks(HEIGHTS), ranks(WEIGHTS))
    )
    # Pairwise complete: age has missing values, its pairs use the rows where both exist.
    pairs = [(a, h) for a, h in zip(AGES, HEIGHTS, strict=True) if a is not None]
    a, h = [float(p[0]) for p in pairs], [p[1] for p in pairs]
    assert matrix["pearson"][0][1] == pytest.approx(statistics.correlation(a, h))
    assert matrix["spearman"][0][1] == pytest.approx(statistics.correlation(ranks(a), ranks(h)))
    assert matrix["pearson"][0][0] == 1.0


def test_categorical_column(result: Any) -> None:
    team = column(result, "team")
    counts = Counter(TEAMS)
    assert team["semantic_type"] == "categorical"
    assert team["distinct"] == len(counts)
    assert [(t["value"], t["count"]) for t in team["top_values"]] == sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])
    )
    assert team["length"]["length_min"] == min(len(t) for t in TEAMS)
    assert team["length"]["length_mean"] == pytest.approx(statistics.fmean(len(t) for t in TEAMS))
    assert issues(result, "inconsistent_case") == {"team": 2}


def test_datetime_column(result: Any) -> None:
    joined = column(result, "joined")
    assert joined["semantic_type"] == "datetime"
    assert joined["datetime"]["min"] == min(JOINED) + "T00:00:00"
    assert joined["datetime"]["max"] == max(JOINED) + "T00:00:00"
    assert joined["datetime"]["granularity"] == "day"
    assert sum(joined["histogram"]["counts"]) == N


def test_preview_is_the_first_rows_as_read(result: Any) -> None:
    assert result.preview["columns"] == ["age", "height", "weight", "team", "joined"]
    first = result.preview["rows"][0]
    assert first == [str(AGES[0]), str(HEIGHTS[0]), str(WEIGHTS[0]), TEAMS[0], JOINED[0]]
    assert len(result.preview["rows"]) == N
