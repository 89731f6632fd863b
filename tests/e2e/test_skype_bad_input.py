"""Every kind of bad Skype upload (samples.skype_hostile) through the gateway: the sync
path answers 400 {"error": <reason>}, an async one ends `failed` with the reason, nothing
is left `running`, and the worker keeps serving the next export."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from samples.skype import write_export
from samples.skype_hostile import HOSTILE
from tests.e2e.skype_helpers import SkypeUser, register_skype_user, upload, wait_for_task

SYNC_MAX = 50 * 1024 * 1024


@pytest.fixture(scope="module")
async def hostile_user(platform: object) -> SkypeUser:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as client:  # type: ignore[attr-defined]
        return await register_skype_user(client, "hostile")


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_bad_input_fails_with_a_reason(
    case: str,
    gateway_client: httpx.AsyncClient,
    hostile_user: SkypeUser,
    tmp_path: Path,
) -> None:
    path = HOSTILE[case](tmp_path / f"{case}.bin")
    size = path.stat().st_size
    with path.open("rb") as body:
        response = await gateway_client.post(
            "/api/upload",
            headers=hostile_user.headers,
            files={"file": ("skype_export.tar", body, "application/x-tar")},
            timeout=300,
        )
    if response.status_code == 400:
        error = response.json()["error"]
        assert error, case
        assert "Traceback" not in error, error
        assert not error.startswith("Processing failed"), error
        return
    assert response.status_code == 200, response.text
    body_json = response.json()
    # Only an upload above the sync threshold may answer a task instead of its verdict.
    assert set(body_json) == {"task_id"}, (case, body_json)
    assert size > SYNC_MAX, (case, size)
    status = await wait_for_task(gateway_client, hostile_user, body_json["task_id"], timeout=240)
    assert status["status"] == "failed", status
    assert status["error"]
    assert "Traceback" not in status["error"]
    # The parser's reason, not a crash that was retried until given up.
    assert not status["error"].startswith("Processing failed"), status["error"]


async def test_the_worker_still_serves_after_bad_input(
    gateway_client: httpx.AsyncClient, hostile_user: SkypeUser, tmp_path: Path
) -> None:
    path = tmp_path / "fine.tar"
    truth = write_export(path, 200, seed=3)
    response = await upload(gateway_client, hostile_user, path.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json()["message_count"] == truth.message_count
