"""The Export spec's own examples (spec/chat-export-api.md): its three curl commands run
with curl exactly as written (only the host and ``YOUR_JWT_TOKEN`` filled in), and its
three error responses: ``unauthorized``, ``invalid_request`` for a bad format and
``export_failed`` when the database fails (a failing file store:
tests/services/analysis/test_chat_export_service.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.backing import BackingServices
from deploy.platform import RunningPlatform
from samples.chats import chat_messages
from shared.database import async_url
from tests.e2e.chat_helpers import Account, api_key, new_user, post_samples

BASIC_JSON = """curl -X POST "https://api.yourdomain.com/client/export/chats" \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
    "format": "json",
    "include_geo": true,
    "limit": 1000
  }'"""
EXCEL_DATE_RANGE = """curl -X POST "https://api.yourdomain.com/client/export/chats" \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
    "format": "excel",
    "date_from": "2024-01-01T00:00:00Z",
    "date_to": "2024-01-31T23:59:59Z",
    "include_geo": true,
    "include_meta": true
  }'"""
DIRECT_DOWNLOAD = """curl -X GET "https://api.yourdomain.com/client/export/chats/download?format=excel&include_geo=true&limit=5000" \\
  -H "Authorization: Bearer YOUR_JWT_TOKEN" \\
  -o "chat_export.xlsx\""""  # noqa: E501


class Curl:
    def __init__(self, gateway_url: str, workdir: Path, token: str) -> None:
        self.url = gateway_url.rstrip("/")
        self.workdir = workdir
        self.token = token
        home = workdir / "home"
        home.mkdir()
        address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        (home / ".curlrc").write_text(f'header = "X-Forwarded-For: {address}"\n')
        self.env = {**os.environ, "HOME": str(home)}

    def run(self, command: str) -> str:
        command = command.replace("https://api.yourdomain.com", self.url)
        command = command.replace("YOUR_JWT_TOKEN", self.token)
        done = subprocess.run(
            ["bash", "-c", command + " --silent --show-error --fail-with-body --max-time 240"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
        return done.stdout

    def json(self, command: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.run(command))
        return answer


async def seeded_user(gw: httpx.AsyncClient) -> tuple[Account, int]:
    """A user with 80 widget messages, January 2024 (40) and February (40)."""
    user = await new_user(gw, "spec")
    key = await api_key(gw, user, ["chat"])
    samples = chat_messages(80, seed=21, step_seconds=15 * 3600)
    await post_samples(gw, key, samples)
    in_january = sum(1 for s in samples if s.sent_at.month == 1)
    return user, in_january


async def test_the_spec_s_curl_examples_run_as_written(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform, tmp_path: Path
) -> None:
    user, in_january = await seeded_user(gateway_client)
    curl = Curl(platform.gateway_url, tmp_path, user.token)

    basic = await asyncio.to_thread(curl.json, BASIC_JSON)
    assert basic["success"] is True
    assert basic["message"] == "Export generated successfully"
    assert basic["record_count"] == 80
    assert isinstance(basic["file_size"], int)
    assert basic["file_size"] > 0
    kept = await gateway_client.get(basic["download_url"], headers=user.headers)
    assert len(kept.content) == basic["file_size"]
    document = kept.json()
    assert document["export_info"]["include_geo"] is True
    assert "geo_data" in document["messages"][0]

    excel = await asyncio.to_thread(curl.json, EXCEL_DATE_RANGE)
    assert excel["success"] is True
    assert excel["record_count"] == in_january
    workbook = await gateway_client.get(excel["download_url"], headers=user.headers)
    assert workbook.headers["content-type"].endswith("spreadsheetml.sheet")

    await asyncio.to_thread(curl.run, DIRECT_DOWNLOAD)
    book = openpyxl.load_workbook(tmp_path / "chat_export.xlsx")
    assert book.sheetnames == ["Chat Messages", "Summary"]
    sheet = book["Chat Messages"]
    assert sheet.max_row == 81
    assert "Country" in [c.value for c in sheet[1]]


async def test_the_spec_s_unauthorized_and_invalid_request_errors(
    gateway_client: httpx.AsyncClient,
) -> None:
    gw = gateway_client
    for method, path in (
        ("POST", "/client/export/chats"),
        ("GET", "/client/export/chats/download"),
        ("GET", "/client/export/audit"),
    ):
        response = await gw.request(method, path, json={"format": "json"})
        assert response.status_code == 401, path
        body = response.json()
        assert (body["error_code"], body["message"]) == ("unauthorized", "Authentication required")
    user = await new_user(gw)
    for response in (
        await gw.post("/client/export/chats", json={"format": "xml"}, headers=user.headers),
        await gw.get(
            "/client/export/chats/download", params={"format": "pdf"}, headers=user.headers
        ),
    ):
        assert response.status_code == 400
        body = response.json()
        assert body["error_code"] == "invalid_request"
        assert body["message"] == (
            "Invalid export request: format must be one of [json, excel, both]"
        )
    bad = await gw.post(
        "/client/export/chats",
        json={"format": "json", "date_from": "yesterday"},
        headers=user.headers,
    )
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "Invalid export request: date_from must be YYYY-MM-DD or an ISO 8601 date-time"
    )
    typo = await gw.post("/client/export/chats", json={"inlude_geo": True}, headers=user.headers)
    assert typo.json()["message"] == "Invalid export request: unknown field 'inlude_geo'"
    broken = await gw.post(
        "/client/export/chats",
        content=b"{not json",
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert (broken.status_code, broken.json()["error_code"]) == (400, "invalid_request")


@contextlib.asynccontextmanager
async def table_locked(backing: BackingServices, table: str) -> Any:
    """An ACCESS EXCLUSIVE lock on ``table`` held by another session."""
    engine = create_async_engine(async_url(backing.database_url))
    try:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        await engine.dispose()


async def test_export_failed_when_the_database_fails(
    gateway_client: httpx.AsyncClient, backing: BackingServices
) -> None:
    """The export cannot read its table (locked past the export's lock timeout): the
    spec's export_failed, with its words, no trace; nothing half made is kept."""
    user, _ = await seeded_user(gateway_client)
    async with table_locked(backing, "analysis.chat_messages"):
        for request in (
            gateway_client.post("/client/export/chats", json={}, headers=user.headers),
            gateway_client.get("/client/export/chats/download", headers=user.headers),
        ):
            response = await request
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["error_code"] == "export_failed"
            assert body["message"] == "Failed to export chats: database connection error"
            assert "Traceback" not in response.text
            assert "lock" not in response.text.lower()
    after = await gateway_client.get("/client/export/chats/download", headers=user.headers)
    assert after.status_code == 200
    assert after.json()["export_info"]["total_records"] == 80
