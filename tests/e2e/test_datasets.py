"""PyAnalypt dataset uploads through the gateway: POST /api/upload/ for users and guests,
the automatic profile, GET /api/upload/ (list), /api/upload/{id}/ (status + profile),
/report, /preview, DELETE, who sees what (guest vs user vs another tenant) and the
expiry of guest uploads."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.platform import RunningPlatform
from samples import datasets as samples
from tests.e2e.accounts_helpers import other_ip
from tests.e2e.object_store import object_keys
from tests.support.polling import poll_json

PROFILE_TIMEOUT = 240.0  # seconds: a loaded CI machine, a cold worker


async def pyanalypt_user(gw: httpx.AsyncClient, unique: str) -> dict[str, str]:
    """A registered PyAnalypt user (their own tenant): Bearer headers."""
    name = f"ds{unique}{secrets.token_hex(3)}"
    ip = {"X-Forwarded-For": other_ip()}
    registered = await gw.post(
        "/api/auth/register/",
        json={"username": name, "email": f"{name}@example.com", "password": "Str0ng_Pass!x"},
        headers=ip,
    )
    assert registered.status_code == 201, registered.text
    login = await gw.post(
        "/api/auth/login/", json={"username": name, "password": "Str0ng_Pass!x"}, headers=ip
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access']}", **ip}


def mixed_csv(tmp_path: Path, rows: int = 400) -> tuple[bytes, samples.GroundTruth]:
    frame, truth = samples.mixed_table(rows)
    return samples.write_csv(frame, tmp_path / "mixed.csv").read_bytes(), truth


async def upload(
    gw: httpx.AsyncClient,
    content: bytes,
    filename: str = "data.csv",
    *,
    headers: dict[str, str] | None = None,
    session_id: str | None = None,
) -> httpx.Response:
    data = {"session_id": session_id} if session_id is not None else None
    return await gw.post(
        "/api/upload/",
        files={"file": (filename, content, "application/octet-stream")},
        data=data,
        headers=headers or {"X-Forwarded-For": other_ip()},
    )


async def wait_profiled(
    gw: httpx.AsyncClient, upload_id: str, *, headers: dict[str, str] | None = None, query: str = ""
) -> dict[str, Any]:
    deadline = time.monotonic() + PROFILE_TIMEOUT
    while True:
        # A slow worker may outlast the read budget (100 a minute): a 429 is waited out.
        url = f"/api/upload/{upload_id}/{query}"
        body = await poll_json(gw, url, deadline=deadline, headers=headers)
        if body["status"] in ("completed", "failed"):
            return body
        assert body["status"] == "processing"
        assert time.monotonic() < deadline, f"not profiled within {PROFILE_TIMEOUT} s: {body}"
        await asyncio.sleep(1.0)


async def test_user_upload_profile_report_preview_and_delete(
    gateway_client: httpx.AsyncClient, unique: str, tmp_path: Path
) -> None:
    gw = gateway_client
    owner = await pyanalypt_user(gw, unique)
    other_tenant = await pyanalypt_user(gw, unique)
    content, truth = mixed_csv(tmp_path)

    created = await upload(gw, content, "mixed.csv", headers=owner, session_id="ignored")
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id",
        "file",
        "original_filename",
        "file_size",
        "session_id",
        "uploaded_at",
    }
    assert uuid.UUID(body["id"])
    assert body["original_filename"] == "mixed.csv"
    assert body["file_size"] == len(content)
    assert body["session_id"] is None  # ignored for an authenticated user
    uploaded_at = datetime.fromisoformat(body["uploaded_at"].replace("Z", "+00:00"))
    assert body["file"] == f"/media/uploads/{uploaded_at:%Y/%m/%d}/mixed.csv"
    upload_id = body["id"]

    listed = await gw.get("/api/upload/", headers=owner)
    assert listed.status_code == 200
    assert [u["id"] for u in listed.json()] == [upload_id]

    done = await wait_profiled(gw, upload_id, headers=owner)
    assert done["status"] == "completed", done
    profile = done["profile"]
    assert profile["table"]["rows"] == truth.rows
    assert profile["table"]["duplicate_rows"] == truth.duplicate_rows
    found = {(i["check"], i["column"] or "*"): i["affected_rows"] for i in profile["quality"]}
    assert found == {(i.check, i.column): i.affected_rows for i in truth.issues}

    report = await gw.get(f"/api/upload/{upload_id}/report", headers=owner)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert "<h2>Correlations</h2>" in report.text
    assert "mixed.csv" in report.text

    preview = await gw.get(f"/api/upload/{upload_id}/preview", headers=owner)
    assert preview.status_code == 200
    assert preview.json()["columns"][:3] == ["customer_id", "channel", "age"]
    assert len(preview.json()["rows"]) == 10
    assert preview.json()["total_rows"] == truth.rows
    three = await gw.get(f"/api/upload/{upload_id}/preview?rows=3", headers=owner)
    assert len(three.json()["rows"]) == 3
    assert three.json()["rows"] == preview.json()["rows"][:3]
    everything = await gw.get(f"/api/upload/{upload_id}/preview?rows=1000", headers=owner)
    assert len(everything.json()["rows"]) == truth.rows
    for bad in ("1001", "0", "x"):
        # The PyAnalypt dialect is FastAPI's own: a 422 naming the parameter.
        refused = await gw.get(f"/api/upload/{upload_id}/preview?rows={bad}", headers=owner)
        assert refused.status_code == 422, bad
        assert refused.json()["detail"][0]["loc"][-1] == "rows"

    # Another tenant, a guest, and nobody: 404 on every route, nothing removed.
    for who, query in ((other_tenant, ""), (None, "?session_id=anything"), (None, "")):
        for path in ("", "report", "preview"):
            response = await gw.get(f"/api/upload/{upload_id}/{path}{query}", headers=who)
            assert response.status_code == 404, (path, query, response.text)
            assert "detail" in response.json()
        gone = await gw.delete(f"/api/upload/{upload_id}/{query}", headers=who)
        assert gone.status_code == 404
    assert (await gw.get("/api/upload/", headers=other_tenant)).json() == []

    deleted = await gw.delete(f"/api/upload/{upload_id}/", headers=owner)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": upload_id, "deleted": True}
    assert (await gw.get(f"/api/upload/{upload_id}/", headers=owner)).status_code == 404
    assert (await gw.get(f"/api/upload/{upload_id}/report", headers=owner)).status_code == 404
    assert (await gw.get("/api/upload/", headers=owner)).json() == []
    assert (await gw.delete(f"/api/upload/{upload_id}/", headers=owner)).status_code == 404


async def test_guest_uploads_are_seen_by_their_session_only(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    gw = gateway_client
    session = f"guest-{uuid.uuid4()}"
    user = await pyanalypt_user(gw, unique)
    content = "city;population\nOslo;709000\nBergen;291000\nTromsø;77000\n".encode("cp1252")

    created = await upload(gw, content, "cities.csv", session_id=session)
    assert created.status_code == 201, created.text
    assert created.json()["session_id"] == session
    upload_id = created.json()["id"]

    done = await wait_profiled(gw, upload_id, query=f"?session_id={session}")
    assert done["status"] == "completed", done
    assert done["profile"]["source"]["delimiter"] == ";"
    assert done["profile"]["table"]["rows"] == 3
    preview = await gw.get(f"/api/upload/{upload_id}/preview?session_id={session}")
    assert preview.json()["rows"][2] == ["Tromsø", "77000"]

    listed = await gw.get(f"/api/upload/?session_id={session}")
    assert [u["id"] for u in listed.json()] == [upload_id]
    assert (await gw.get("/api/upload/?session_id=someone-else")).json() == []
    assert (await gw.get("/api/upload/")).status_code == 400

    for query, headers in (("?session_id=someone-else", None), ("", None), ("", user)):
        response = await gw.get(f"/api/upload/{upload_id}/{query}", headers=headers)
        assert response.status_code == 404
    assert (await gw.get("/api/upload/", headers=user)).json() == []

    deleted = await gw.delete(f"/api/upload/{upload_id}/?session_id={session}")
    assert deleted.status_code == 200


async def test_upload_refusals(gateway_client: httpx.AsyncClient, tmp_path: Path) -> None:
    gw = gateway_client
    csv = b"a,b\n1,2\n"

    guest_without_session = await upload(gw, csv)
    assert guest_without_session.status_code == 400
    assert "session_id" in guest_without_session.json()["detail"]
    blank_session = await upload(gw, csv, session_id="  ")
    assert blank_session.status_code == 400

    bad_token = await upload(
        gw, csv, headers={"Authorization": "Bearer not-a-token", "X-Forwarded-For": other_ip()}
    )
    assert bad_token.status_code == 401
    assert "detail" in bad_token.json()

    no_file = await gw.post(
        "/api/upload/", data={"session_id": "s"}, files={"other": ("x.txt", b"x")}
    )
    assert no_file.status_code == 400
    assert "file" in no_file.json()["detail"]

    lying = {
        "zip named csv": (samples.hostile_zip_named_csv(tmp_path / "a").read_bytes(), "data.csv"),
        "text named xlsx": (samples.hostile_text_named_xlsx(tmp_path / "b").read_bytes(), "r.xlsx"),
        "plain zip named xlsx": (
            samples.hostile_plain_zip_named_xlsx(tmp_path / "c").read_bytes(),
            "r.xlsx",
        ),
        "png named csv": (samples.hostile_csv_binary(tmp_path / "d").read_bytes(), "d.csv"),
        "gzip": (samples.hostile_csv_gzip(tmp_path / "e").read_bytes(), "data.csv"),
        "json": (b'{"a": 1}', "data.json"),
        "pdf": (b"%PDF-1.4\n" + b"x" * 100, "data.csv"),
        "empty": (b"", "data.csv"),
    }
    for label, (content, name) in lying.items():
        response = await upload(gw, content, name, session_id="s")
        assert response.status_code == 400, (label, response.text)
        assert response.json()["detail"], label
    mismatch = await upload(gw, lying["zip named csv"][0], "data.csv", session_id="s")
    assert "zip" in mismatch.json()["detail"].lower()
    # Nothing was kept for any refusal.
    assert (await gw.get("/api/upload/?session_id=s")).json() == []


async def test_a_hostile_file_that_passes_the_upload_fails_its_job_with_the_reason(
    gateway_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gw = gateway_client
    session = f"guest-{uuid.uuid4()}"
    cases = {
        "laughs.xlsx": (samples.hostile_xlsx_entity_expansion(tmp_path / "x"), "DTD"),
        "cut.parquet": (samples.hostile_parquet_truncated(tmp_path / "p"), "footer"),
    }
    for name, (path, words) in cases.items():
        created = await upload(gw, path.read_bytes(), name, session_id=session)
        assert created.status_code == 201, created.text
        done = await wait_profiled(gw, created.json()["id"], query=f"?session_id={session}")
        assert done["status"] == "failed", done
        assert words in done["error"], done["error"]
        report = await gw.get(f"/api/upload/{created.json()['id']}/report?session_id={session}")
        assert report.status_code == 409
        assert words in report.json()["detail"]


async def test_guest_uploads_expire_with_their_objects(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform, unique: str
) -> None:
    gw = gateway_client
    session = f"guest-{uuid.uuid4()}"
    user = await pyanalypt_user(gw, unique)
    guest = await upload(gw, b"n\n1\n2\n", "n.csv", session_id=session)
    kept = await upload(gw, b"n\n1\n2\n", "n.csv", headers=user)
    assert guest.status_code == kept.status_code == 201
    guest_id, kept_id = guest.json()["id"], kept.json()["id"]
    await wait_profiled(gw, guest_id, query=f"?session_id={session}")
    assert await object_keys(platform, f"uploads/dataset/guest/{guest_id}")

    # The sweep, run with a clock 25 hours ahead (the default lifetime is 24 h).
    later = datetime.fromisoformat(guest.json()["uploaded_at"].replace("Z", "+00:00"))
    async with httpx.AsyncClient(base_url=platform.service_urls["analysis"]) as analysis:
        swept = await analysis.post(
            "/internal/datasets/expire",
            json={"now": (later + timedelta(hours=25)).isoformat()},
            headers={"X-Internal-Token": platform.env["QUARRY_INTERNAL_TOKEN"]},
        )
    assert swept.status_code == 200, swept.text
    assert swept.json()["removed"] >= 1

    for path in ("", "report", "preview"):
        response = await gw.get(f"/api/upload/{guest_id}/{path}?session_id={session}")
        assert response.status_code == 404
    assert (await gw.get(f"/api/upload/?session_id={session}")).json() == []
    assert await object_keys(platform, f"uploads/dataset/guest/{guest_id}") == set()
    # A user's upload never expires.
    assert (await gw.get(f"/api/upload/{kept_id}/", headers=user)).status_code == 200


@pytest.mark.parametrize("kind", ["parquet", "xlsx"])
async def test_parquet_and_workbook_uploads(
    gateway_client: httpx.AsyncClient, tmp_path: Path, kind: str
) -> None:
    gw = gateway_client
    session = f"guest-{uuid.uuid4()}"
    frame, truth = samples.mixed_table(300)
    path = (
        samples.write_parquet(frame, tmp_path / "m.parquet")
        if kind == "parquet"
        else samples.write_xlsx(frame, tmp_path / "m.xlsx")
    )
    created = await upload(gw, path.read_bytes(), path.name, session_id=session)
    assert created.status_code == 201, created.text
    done = await wait_profiled(gw, created.json()["id"], query=f"?session_id={session}")
    assert done["status"] == "completed", done
    types = {c["name"]: c["semantic_type"] for c in done["profile"]["columns"]}
    assert types == truth.semantic_types
