"""A Skype export end to end through the gateway: upload (sync and async), the worker's
streaming ETL, progress, the analysis against the generator's ground truth, the exports
list, deletion, and tenancy (another tenant's ids are 404 everywhere)."""

from __future__ import annotations

import asyncio
import html
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.platform import RunningPlatform
from samples.skype import write_export
from tests.e2e.object_store import object_keys
from tests.e2e.skype_helpers import register_skype_user, upload, wait_for_task
from tests.support.polling import poll_json


@pytest.fixture(scope="module")
def export_tar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("skype") / "export.tar"
    truth = write_export(path, 3000, seed=11)
    return path, truth.to_dict()


@pytest.fixture(scope="module")
def big_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("skype") / "messages.json"
    truth = write_export(path, 60_000, seed=5, bare=True)
    return path, truth.to_dict()


def check_analysis(analysis: dict[str, Any], truth: dict[str, Any]) -> None:
    assert analysis["message_count"] == truth["message_count"]
    assert analysis["conversation_count"] == truth["conversation_count"]
    assert analysis["date_range"]["start"][:19] == truth["date_range"]["start"][:19]
    assert analysis["date_range"]["end"][:19] == truth["date_range"]["end"][:19]
    top = [(c["name"], c["message_count"]) for c in analysis["top_contacts"][:3]]
    expected = [(c["name"], c["message_count"]) for c in truth["top_contacts"][:3]]
    assert top == expected
    # Beyond the spec, as served through the gateway: contacts by their names (from the
    # export itself), activity, types, calls, response times, words and emoji.
    people = {c["id"]: c for c in analysis["contacts"]}
    for identity, contact in truth["contacts"].items():
        if contact["message_count"]:
            assert people[identity]["name"] == contact["name"], identity
            assert people[identity]["message_count"] == contact["message_count"], identity
    conversations = {c["id"]: c for c in analysis["conversations"]}
    for identity, conversation in truth["conversations"].items():
        assert conversations[identity]["name"] == conversation["name"]
        assert conversations[identity]["message_count"] == conversation["message_count"]
    per_day = {d["date"]: d["count"] for d in analysis["messages_per_day"]}
    assert per_day == truth["messages_per_day"]
    assert analysis["hour_of_week"]["counts"] == truth["hour_of_week"]
    assert analysis["busiest_days"] == truth["busiest_days"]
    categories = analysis["message_types"]["categories"]
    assert {k: v for k, v in categories.items() if v} == truth["categories"]
    assert analysis["calls"]["total_duration_s"] == truth["calls"]["total_duration_s"]
    got, want = analysis["response_times"], truth["response_times"]
    assert got["replies"] == want["replies"]
    assert got["median_s"] == pytest.approx(want["median_s"], abs=1e-3)
    assert got["first_response"]["median_s"] == pytest.approx(
        want["first_response"]["median_s"], abs=1e-3
    )
    words = {w["word"]: w["count"] for w in analysis["words"]["top"]}
    for word, count in truth["planted_words"].items():
        assert words[word] == count, word
    assert {e["emoji"]: e["count"] for e in analysis["emoji"]["top"]} == truth["emoji"]


async def test_a_small_export_is_processed_before_the_answer(
    gateway_client: httpx.AsyncClient,
    platform: RunningPlatform,
    export_tar: tuple[Path, dict[str, Any]],
) -> None:
    path, truth = export_tar
    user = await register_skype_user(gateway_client)
    uploads_before = await object_keys(platform, "uploads/skype/")
    response = await upload(
        gateway_client,
        user,
        path.read_bytes(),
        filename="skype_export.tar",
        fields={"user_display_name": "John Doe"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    task_id = response.headers["X-Task-ID"]
    assert "task_id" not in result  # the spec's clients would take it for the async answer
    assert result["success"] is True
    export_id = result["export_id"]
    assert isinstance(export_id, int)
    assert result["message_count"] == truth["message_count"]
    assert result["conversations"] == truth["conversation_count"]
    for name in ("extract", "transform", "load"):
        phase = result["phases"][name]
        assert phase["status"] == "completed"
        assert phase["duration_seconds"] >= 0
        assert phase["processed_messages"] == truth["message_count"]
        assert phase["processed_conversations"] == truth["conversation_count"]
    assert result["phases"]["load"]["export_id"] == export_id

    # The sync answer waited for the same job the async path polls.
    status = (await gateway_client.get(f"/api/status/{task_id}", headers=user.headers)).json()
    assert status == {
        "status": "completed",
        "progress": 100,
        "message": "Completed",
        "export_id": export_id,
    }

    analysis = await gateway_client.get(f"/api/analysis/{export_id}", headers=user.headers)
    assert analysis.status_code == 200
    check_analysis(analysis.json(), truth)

    # The report names the contacts as the export does (not by their Skype ids).
    report = await gateway_client.get(f"/api/report/{export_id}", headers=user.headers)
    assert report.status_code == 200
    shown = html.unescape(report.text)
    for contact in truth["top_contacts"][:3]:
        assert contact["name"] in shown, contact
        assert contact["name"] != contact["id"]

    exports = (await gateway_client.get("/api/exports", headers=user.headers)).json()
    assert [e["export_id"] for e in exports] == [export_id]
    assert exports[0]["message_count"] == truth["message_count"]  # rows in the database
    assert exports[0]["conversation_count"] == truth["conversation_count"]
    assert exports[0]["user_id"] == truth["user_id"]
    assert exports[0]["user_display_name"] == "John Doe"

    # Another tenant sees none of it.
    other = await register_skype_user(gateway_client, "other")
    for method, url in (
        ("GET", f"/api/analysis/{export_id}"),
        ("GET", f"/api/report/{export_id}"),
        ("DELETE", f"/api/exports/{export_id}"),
        ("GET", f"/api/status/{task_id}"),
    ):
        foreign = await gateway_client.request(method, url, headers=other.headers)
        assert foreign.status_code == 404, (method, url, foreign.text)
        assert "error" in foreign.json()
    assert (await gateway_client.get("/api/exports", headers=other.headers)).json() == []

    # Deleting removes it, its stored upload and the worker's files; then it is gone
    # everywhere.
    stored = await object_keys(platform, "uploads/skype/") - uploads_before
    assert len(stored) == 1, stored
    deleted = await gateway_client.delete(f"/api/exports/{export_id}", headers=user.headers)
    assert deleted.status_code == 200, deleted.text
    assert not stored & await object_keys(platform, "uploads/skype/")
    assert await object_keys(platform, f"artifacts/{task_id}/") == set()
    assert deleted.json() == {"export_id": export_id, "deleted": True}
    for url in (f"/api/analysis/{export_id}", f"/api/report/{export_id}"):
        assert (await gateway_client.get(url, headers=user.headers)).status_code == 404
    again = await gateway_client.delete(f"/api/exports/{export_id}", headers=user.headers)
    assert again.status_code == 404
    assert (await gateway_client.get("/api/exports", headers=user.headers)).json() == []


async def test_an_async_export_reports_progress_that_moves(
    gateway_client: httpx.AsyncClient, big_json: tuple[Path, dict[str, Any]]
) -> None:
    path, truth = big_json
    user = await register_skype_user(gateway_client)
    response = await upload(gateway_client, user, path.read_bytes(), params={"async": "true"})
    task_id = response.json()["task_id"]
    seen: list[int] = []
    deadline = time.monotonic() + 180
    while True:
        url = f"/api/status/{task_id}"
        status = await poll_json(gateway_client, url, deadline=deadline, headers=user.headers)
        seen.append(status["progress"])
        if status["status"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.25)
    assert status["status"] == "completed", status
    assert status["progress"] == 100
    assert seen == sorted(seen), "progress never goes back within one attempt"
    assert any(0 < p < 100 for p in seen), seen
    analysis = (
        await gateway_client.get(f"/api/analysis/{status['export_id']}", headers=user.headers)
    ).json()
    check_analysis(analysis, truth)


async def test_exports_are_listed_newest_first(
    gateway_client: httpx.AsyncClient, export_tar: tuple[Path, dict[str, Any]]
) -> None:
    path, _ = export_tar
    user = await register_skype_user(gateway_client)
    ids = []
    for _ in range(2):
        response = await upload(gateway_client, user, path.read_bytes())
        ids.append(response.json()["export_id"])
    listed = [
        e["export_id"]
        for e in (await gateway_client.get("/api/exports", headers=user.headers)).json()
    ]
    assert listed == sorted(ids, reverse=True)
    status = await wait_for_task(gateway_client, user, response.headers["X-Task-ID"])
    assert status["export_id"] == ids[-1]


async def test_the_report_is_self_contained_and_escapes_user_content(
    gateway_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "hostile.tar"
    truth = write_export(path, 1500, seed=13, hostile=True)
    assert truth.hostile_strings
    user = await register_skype_user(gateway_client)
    result = (await upload(gateway_client, user, path.read_bytes())).json()
    report = await gateway_client.get(f"/api/report/{result['export_id']}", headers=user.headers)
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    page = report.text
    lowered = page.lower()
    # Self-contained: nothing to fetch, nothing to run.
    for external in ("<script", "<link", 'src="http', "src='http", "url(http", "@import"):
        assert external not in lowered, external
    assert "<svg" in lowered  # charts are inline SVG
    # User content is there, as text.
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in lowered
