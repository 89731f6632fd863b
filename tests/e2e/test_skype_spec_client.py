"""The Skype spec's Python client flow, run as written (tests/e2e/skype_spec_client.py is
the spec's code; only BASE_URL points at the gateway): a small export takes the
synchronous branch, an export above the sync threshold the asynchronous one (polling
/api/status until completed), and both fetch the analysis and the report."""

from __future__ import annotations

import importlib
import secrets
from pathlib import Path
from typing import Any

import pytest

from deploy.platform import RunningPlatform
from samples.skype import write_export

SYNC_MAX = 50 * 1024 * 1024


@pytest.fixture
def spec_client(platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("SKYPE_BASE_URL", platform.gateway_url)
    monkeypatch.chdir(tmp_path)  # the example writes report.html to the working directory
    import tests.e2e.skype_spec_client as client

    return importlib.reload(client)


def run(spec_client: Any, path: Path) -> dict[str, Any]:
    name = f"johndoe{secrets.token_hex(4)}"
    outcome: dict[str, Any] = spec_client.run_example_main(
        str(path), username=name, email=f"{name}@example.com"
    )
    return outcome


def test_the_synchronous_branch(spec_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "skype_export.tar"
    truth = write_export(path, 2000, seed=31)
    outcome = run(spec_client, path)
    assert "task_id" not in outcome["result"]
    assert outcome["result"]["success"] is True
    analysis = outcome["analysis"]
    assert analysis["message_count"] == truth.message_count
    assert analysis["conversation_count"] == truth.conversation_count
    assert {"start", "end"} <= set(analysis["date_range"])
    assert analysis["top_contacts"][0]["name"] == truth.top_contacts()[0]["name"]
    assert (tmp_path / "report.html").read_text() == outcome["report_html"]


@pytest.mark.slow
def test_the_asynchronous_branch(spec_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "messages.json"
    truth = write_export(path, 140_000, seed=32, bare=True)
    assert path.stat().st_size > SYNC_MAX  # above the threshold: the async answer
    outcome = run(spec_client, path)
    assert set(outcome["result"]) == {"task_id"}
    assert outcome["status"]["status"] == "completed"
    assert isinstance(outcome["export_id"], int)
    assert outcome["analysis"]["message_count"] == truth.message_count
    assert (tmp_path / "report.html").read_text() == outcome["report_html"]
