"""The Export spec's parameters: defaults, dates, limits, booleans, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.analysis.service.export_params import FORMAT_ERROR, parse_export_params
from shared.errors import BadRequest


def parse(raw: Any, *, query: bool = False) -> Any:
    return parse_export_params(raw, max_limit=1_000_000, from_query=query)


def refused(raw: Any, *, query: bool = False) -> str:
    with pytest.raises(BadRequest) as caught:
        parse(raw, query=query)
    return caught.value.message


def test_defaults_are_the_spec_s() -> None:
    for raw in (None, {}):
        params = parse(raw)
        assert (params.format, params.limit) == ("json", 10_000)
        assert not (params.include_geo)
        assert not (params.include_meta)
        assert not (params.include_full_ip)
        assert params.since is params.before is params.client_id is None
    assert parse({"format": None, "limit": None}).limit == 10_000


def test_a_bad_format_answers_the_spec_s_message() -> None:
    assert FORMAT_ERROR == "Invalid export request: format must be one of [json, excel, both]"
    for value in ("xml", "", 3, ["json"], "csv"):
        assert refused({"format": value}) == FORMAT_ERROR
    assert refused({"format": "pdf"}, query=True) == FORMAT_ERROR
    assert parse({"format": "Excel"}).format == "excel"


def test_dates_and_date_times() -> None:
    day = parse({"date_from": "2024-01-01", "date_to": "2024-01-31"})
    assert day.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert day.before == datetime(2024, 2, 1, tzinfo=UTC)  # the whole of the 31st
    exact = parse({"date_from": "2024-01-01T00:00:00Z", "date_to": "2024-01-31T23:59:59Z"})
    assert exact.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert exact.before == datetime(2024, 1, 31, 23, 59, 59, 1, tzinfo=UTC)
    offset = parse({"date_from": "2024-01-01T02:00:00+02:00"})
    assert offset.since == datetime(2024, 1, 1, tzinfo=UTC)
    naive = parse({"date_from": "2024-01-01T05:00:00"})
    assert naive.since == datetime(2024, 1, 1, 5, tzinfo=UTC)
    assert naive.filters()["date_from"] == "2024-01-01T05:00:00"
    assert refused({"date_from": "01/02/2024"}).startswith("Invalid export request: date_from")
    assert refused({"date_to": "2024-13-01"}).startswith("Invalid export request: date_to")
    assert refused({"date_from": 20240101}).startswith("Invalid export request: date_from")
    assert refused({"date_from": "2024-02-01", "date_to": "2024-01-01"}) == (
        "Invalid export request: date_from is after date_to"
    )
    same_day = parse({"date_from": "2024-01-01", "date_to": "2024-01-01"})
    assert same_day.before - same_day.since == timedelta(days=1)


def test_limits_and_booleans() -> None:
    assert parse({"limit": 1}).limit == 1
    assert parse({"limit": "250"}, query=True).limit == 250
    for bad in (0, -1, 1_000_001, "ten", True, 2.5):
        assert "limit must be an integer between 1 and 1000000" in refused({"limit": bad})
    query = parse(
        {"include_geo": "TRUE", "include_meta": "0", "include_full_ip": "yes"}, query=True
    )
    assert (query.include_geo, query.include_meta, query.include_full_ip) == (True, False, True)
    assert (
        refused({"include_geo": "maybe"})
        == "Invalid export request: include_geo must be true or false"
    )
    assert refused({"include_meta": 1.5}).endswith("include_meta must be true or false")


def test_unknown_fields_are_refused_in_a_body_only() -> None:
    assert refused({"inlude_geo": True}) == "Invalid export request: unknown field 'inlude_geo'"
    assert parse({"inlude_geo": "true", "_": "123"}, query=True).include_geo is False
    assert refused([1, 2]) == "Invalid export request: the body must be a JSON object"
    assert refused({"client_id": 5}) == "Invalid export request: client_id must be a string"
    assert "at most 128" in refused({"conversation_id": "c" * 129})
    assert parse({"client_id": "  "}).client_id is None
