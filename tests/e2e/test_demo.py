"""``make demo`` against the test platform: every command it prints answers as printed,
and a second run reuses the account and stores nothing twice.

The demo runs as a person runs it (``python -m demo``, a process of its own, in a
directory of its own); its printed commands run with bash, character for character, in
another directory. curl's ``~/.curlrc`` gives them a client address of their own (rate
limits), without touching the commands; the demo gets the same through ``--header``.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.platform import RunningPlatform

REPO = Path(__file__).resolve().parents[2]
RULE = "=" * 72
DEMO_SECONDS = 600
COMMAND_SECONDS = 120

SKYPE, CSV, XLSX = "quarry-demo-skype.tar", "quarry-demo-dataset.csv", "quarry-demo-dataset.xlsx"
DOCUMENTS = ("quarry-demo-report.docx", "quarry-demo-brief.pdf", "quarry-demo-notes.txt")


def _address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@dataclass
class DemoRun:
    code: int
    output: str
    errors: str

    @property
    def summary(self) -> list[str]:
        """The lines of the last block between two rules (what the demo printed last)."""
        lines = self.output.splitlines()
        ends = [i for i, line in enumerate(lines) if line == RULE]
        assert len(ends) >= 2, f"no summary block in the demo's output:\n{self.output}"
        return lines[ends[-2] + 1 : ends[-1]]

    @property
    def commands(self) -> list[tuple[str, str]]:
        """Each printed command (a line indented four spaces) with what it shows (the
        line above it)."""
        lines = self.summary
        return [
            (lines[i - 1].strip(), line[4:])
            for i, line in enumerate(lines)
            if line.startswith("    ") and not line.startswith("     ")
        ]

    @property
    def not_shown(self) -> list[str]:
        lines = self.summary
        if "Not shown" not in lines:
            return []
        return [line.strip() for line in lines[lines.index("Not shown") + 1 :] if line.strip()]

    def api_key(self) -> str:
        found = re.search(r"API key:\s+(\S+)", "\n".join(self.summary))
        assert found, self.output
        return found.group(1)


@dataclass
class Demo:
    platform: RunningPlatform
    state: Path
    username: str
    workdir: Path
    address: str

    def run(self, name: str) -> DemoRun:
        cwd = self.workdir / name
        cwd.mkdir()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "demo",
                "--url",
                self.platform.gateway_url,
                "--state-dir",
                str(self.state),
                "--username",
                self.username,
                "--header",
                f"X-Forwarded-For: {self.address}",
            ],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=DEMO_SECONDS,
        )
        return DemoRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def demo(platform: RunningPlatform, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the demo's printed commands (apt-get install curl)")
    workdir = tmp_path_factory.mktemp("demo")
    return Demo(
        platform, workdir / "state", f"demo_{random.randbytes(4).hex()}", workdir, _address()
    )


@pytest.fixture(scope="module")
def first_run(demo: Demo) -> DemoRun:
    return demo.run("first")


def _offered(platform: RunningPlatform) -> set[str]:
    paths = httpx.get(f"{platform.gateway_url}/openapi.json", timeout=30).json()["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


def _converter_missing(platform: RunningPlatform) -> bool:
    detailed = httpx.get(f"{platform.gateway_url}/monitoring/detailed", timeout=30).json()
    converters = detailed.get("components", {}).get("worker", {}).get("converters") or {}
    return any(str(u).startswith("docx->pdf") for u in converters.get("unavailable", []))


class Shell:
    """Runs printed commands with bash in a directory of their own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        home = workdir / "home"
        home.mkdir(parents=True)
        (home / ".curlrc").write_text(f'header = "X-Forwarded-For: {_address()}"\n')
        self.env = {**os.environ, "HOME": str(home)}

    def run(self, command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )
        assert done.returncode == 0, f"{command}\nexit {done.returncode}: {done.stderr}"
        assert done.stderr == "", f"{command}\n{done.stderr}"
        return done.stdout

    def watch(self, command: str, until: str, seconds: float = 60) -> str:
        """Start ``command`` (an interactive client), read its output until ``until``
        shows, then stop it."""
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        seen = b""
        deadline = time.monotonic() + seconds
        try:
            while until.encode() not in seen and time.monotonic() < deadline:
                ready, _, _ = select.select([process.stdout], [], [], 1.0)
                if ready:
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    seen += chunk
        finally:
            process.terminate()
            process.wait(10)
        return seen.decode("utf-8", "replace")


def _json(text: str, command: str) -> Any:
    try:
        body = json.loads(text)
    except ValueError:
        pytest.fail(f"{command}\nanswered no JSON: {text[:500]}")
    if isinstance(body, dict):
        errors = {k for k in ("error", "error_code", "detail") if body.get(k)}
        assert not errors, f"{command}\nanswered an error: {text[:500]}"
    return body


def _saved(command: str) -> str | None:
    found = re.search(r" -o (\S+)", command)
    return found.group(1) if found else None


def _check_file(path: Path, command: str) -> None:
    data = path.read_bytes()
    if path.suffix == ".html":
        head = data[:200].lower()
        assert head.startswith((b"<!doctype html", b"<html")), f"{command}\n{data[:300]!r}"
    elif path.suffix == ".pdf":
        assert data.startswith(b"%PDF-"), f"{command}\n{data[:300]!r}"
    elif path.suffix == ".xlsx":
        assert data.startswith(b"PK\x03\x04"), f"{command}\n{data[:300]!r}"
    elif path.suffix == ".json":
        _json(data.decode(), command)
    else:
        pytest.fail(f"{command}: a file of an unexpected kind, {path.name}")


def test_first_run_shows_every_part_the_platform_offers(
    first_run: DemoRun, platform: RunningPlatform
) -> None:
    assert first_run.code == 0, first_run.output + first_run.errors
    titles = [line for line in first_run.summary if line and not line.startswith(" ")]
    shown = " ".join(titles)
    for name in (SKYPE, CSV, XLSX, *DOCUMENTS):
        assert name in shown, f"{name} is not in the summary:\n{first_run.output}"
    assert 'Live comments: session "quarry-demo" on @replay_demo' in shown
    offered = _offered(platform)
    chats_offered = {"POST /client/chats", "GET /client/export/chats/download"} <= offered
    not_shown = " ".join(first_run.not_shown)
    if chats_offered:
        assert "Chat" in shown, first_run.output
        assert "Chat" not in not_shown, first_run.output
    else:  # said plainly, with the reason
        assert "Chat-widget messages" in not_shown
        assert "does not serve POST /client/chats" in not_shown
    if not _converter_missing(platform):
        assert "docx -> PDF" not in not_shown, first_run.output


def test_every_printed_command_answers_as_printed(
    first_run: DemoRun, demo: Demo, platform: RunningPlatform
) -> None:
    assert first_run.code == 0, first_run.output + first_run.errors
    shell = Shell(demo.workdir / "replay")
    checked: dict[str, Any] = {}
    for what, command in first_run.commands:
        if " -m websockets " in command:
            seen = shell.watch(command, until='"type":"comment"')
            assert '"type":"connected"' in seen, seen
            assert '"type":"comment"' in seen, seen
            checked["websocket"] = seen
            continue
        assert command.startswith("curl "), f"not a command a person can run: {command}"
        output = shell.run(command)
        saved = _saved(command)
        if saved is not None:
            _check_file(shell.workdir / saved, command)
            checked[saved] = (shell.workdir / saved).stat().st_size
        else:
            checked[command] = _json(output, command)
        assert what, command
    answers = {c: a for c, a in checked.items() if c.startswith("curl ")}

    def answer(path_part: str) -> Any:
        found = [a for c, a in answers.items() if path_part in c]
        assert found, f"no printed command for {path_part}: {list(answers)}"
        return found[0]

    assert answer("/api/analysis/")["message_count"] == 3000
    assert "quarry-demo-skype-report.html" in checked
    profiles = [a for c, a in answers.items() if re.search(r"/api/upload/[0-9a-f-]+/ ?$", c)]
    assert sorted(p["profile"]["table"]["rows"] for p in profiles) == [2000, 5000]
    assert {"quarry-demo-dataset-csv-report.html", "quarry-demo-dataset-xlsx-report.html"} <= set(
        checked
    )
    assert len(answer("/preview")["rows"]) == 5
    stored = {f["filename"] for f in answer("/files/storage")}
    assert set(DOCUMENTS) <= stored
    if not _converter_missing(platform):
        assert answer("/files/download/")["file_url"].startswith("http")
        assert "quarry-demo-report.pdf" in checked
    assert answer("/files/tonality-analysis")["status"] == "success"
    assert answer("/files/parse-file")["count"] > 0
    assert answer("/sessions/quarry-demo/comments")["comments"]
    assert "websocket" in checked
    if {"POST /client/chats", "GET /client/export/chats/download"} <= _offered(platform):
        _check_chat_exports(shell.workdir)


def _check_chat_exports(workdir: Path) -> None:
    """The chat exports hold the 60 widget messages (beside the Skype export's); the
    session's gateway trusts its loopback proxy, so they come from their sample
    addresses, geolocated."""
    from openpyxl import load_workbook

    export = json.loads((workdir / "quarry-demo-chats.json").read_text())
    total = export["export_info"]["total_records"]
    assert total == len(export["messages"])
    widget = [m for m in export["messages"] if m["conversation_id"].startswith("demo_")]
    assert len(widget) == 60
    countries = {(m.get("geo_data") or {}).get("country_code") for m in widget}
    assert {"GB", "US", "FR"} <= countries, countries
    workbook = load_workbook(workdir / "quarry-demo-chats.xlsx", read_only=True)
    assert workbook.sheetnames == ["Chat Messages", "Summary"]
    rows = sum(1 for _ in workbook["Chat Messages"].iter_rows(values_only=True))
    assert rows == total + 1  # and the header row
    workbook.close()


def _listing(platform: RunningPlatform, key: str, path: str) -> Any:
    response = httpx.get(
        f"{platform.gateway_url}{path}",
        headers={"X-API-Key": key, "X-Forwarded-For": _address()},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_second_run_reuses_the_account_and_stores_nothing_twice(
    first_run: DemoRun, demo: Demo, platform: RunningPlatform
) -> None:
    assert first_run.code == 0, first_run.output + first_run.errors
    second = demo.run("second")
    assert second.code == 0, second.output + second.errors
    assert f'demo account "{demo.username}" reused' in second.output
    assert "registered" not in second.output
    assert second.api_key() == first_run.api_key()
    # The same exports, uploads and files, so the same commands (the live session's
    # comments and the PDF link are the same requests too).
    assert [c for _, c in second.commands] == [c for _, c in first_run.commands]
    key = first_run.api_key()
    exports = _listing(platform, key, "/api/exports")
    assert [e["filename"] for e in exports] == [SKYPE]
    uploads = _listing(platform, key, "/api/upload/")
    assert sorted(u["original_filename"] for u in uploads) == [CSV, XLSX]
    files = _listing(platform, key, "/files/storage")
    originals = [f["filename"] for f in files if f.get("source_file_id") is None]
    assert sorted(originals) == sorted(DOCUMENTS)
    derived = [f["filename"] for f in files if f.get("source_file_id") is not None]
    assert len(derived) == len(set(derived)), derived  # one conversion, cached after
    sessions = _listing(platform, key, "/sessions")["active_sessions"]
    assert [s["session_id"] for s in sessions] == ["quarry-demo"]
