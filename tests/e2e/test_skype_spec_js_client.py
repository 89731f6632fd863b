"""The Skype spec's JavaScript client as written (tests/e2e/skype_spec_client.mjs), run
by Node (its fetch, FormData and File are the browser's) against the gateway: register,
log in, upload (the sync answer), analysis, report, exports, profile, new key."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy.platform import RunningPlatform
from samples.skype import write_export

CLIENT = Path(__file__).with_name("skype_spec_client.mjs")


def node() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        pytest.skip("Node.js is not installed (Debian package: nodejs): the JS client cannot run")
    return found


def test_the_javascript_client_flow(platform: RunningPlatform, tmp_path: Path) -> None:
    path = tmp_path / "skype_export.tar"
    truth = write_export(path, 800, seed=41)
    username = f"jsdoe{secrets.token_hex(4)}"
    result = subprocess.run(
        [node(), str(CLIENT), username, str(path)],
        env={"SKYPE_BASE_URL": platform.gateway_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["registered"]["username"] == username
    assert out["login"]["username"] == username
    assert out["upload"]["success"] is True
    export_id = out["upload"]["export_id"]
    assert isinstance(export_id, int)
    assert out["analysis"]["message_count"] == truth.message_count
    assert out["analysis"]["conversation_count"] == truth.conversation_count
    assert out["report"].lstrip().lower().startswith("<!doctype html")
    assert [e["export_id"] for e in out["exports"]] == [export_id]
    assert out["profile"]["username"] == username
    assert out["regenerated"]["api_key"]
