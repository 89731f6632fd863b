"""POST /api/upload through the gateway: the streamed upload, its refusals, and the job
it creates (readable at /api/status/{task_id} and /jobs/{id}, by its owner only)."""

from __future__ import annotations

import gzip

import httpx

from tests.e2e.skype_helpers import (
    json_bytes,
    register_skype_user,
    tar_of,
    tiny_export,
    upload,
)


async def test_upload_needs_credentials(gateway_client: httpx.AsyncClient) -> None:
    response = await gateway_client.post(
        "/api/upload", files={"file": ("messages.json", b"{}", "application/json")}
    )
    assert response.status_code == 401
    assert "error" in response.json()


async def test_refusals_are_400_in_the_skype_dialect(gateway_client: httpx.AsyncClient) -> None:
    user = await register_skype_user(gateway_client)
    not_multipart = await gateway_client.post(
        "/api/upload", headers={**user.headers, "Content-Type": "application/json"}, content=b"{}"
    )
    assert not_multipart.status_code == 400
    assert "multipart" in not_multipart.json()["error"]

    no_file = await gateway_client.post(
        "/api/upload", headers=user.headers, files={"other": (None, "x")}
    )
    assert no_file.status_code == 400
    assert "file" in no_file.json()["error"]

    empty = await upload(gateway_client, user, b"")
    assert empty.status_code == 400
    assert "empty" in empty.json()["error"]

    png = await upload(
        gateway_client, user, b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000, filename="a.tar"
    )
    assert png.status_code == 400
    assert png.json()["error"].startswith("Not a Skype export")

    pdf = await upload(gateway_client, user, b"%PDF-1.4\n" + b"x" * 100, filename="messages.json")
    assert pdf.status_code == 400
    assert "PDF" in pdf.json()["error"]


async def test_async_upload_answers_a_task_the_owner_can_read(
    gateway_client: httpx.AsyncClient,
) -> None:
    user = await register_skype_user(gateway_client)
    other = await register_skype_user(gateway_client, "other")
    for content, field in (
        (json_bytes(tiny_export()), {"async": "true"}),
        (tar_of({"messages.json": json_bytes(tiny_export())}), {"async": "1"}),
        (gzip.compress(tar_of({"messages.json": json_bytes(tiny_export())})), {"async": "yes"}),
    ):
        response = await upload(gateway_client, user, content, fields=field)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"task_id"}
        task_id = body["task_id"]

        status = await gateway_client.get(f"/api/status/{task_id}", headers=user.headers)
        assert status.status_code == 200
        assert status.json()["status"] in ("pending", "running", "completed", "failed")
        assert 0 <= status.json()["progress"] <= 100

        job = await gateway_client.get(f"/jobs/{task_id}", headers=user.headers)
        assert job.status_code == 200
        assert job.json()["id"] == task_id
        assert job.json()["type"] == "skype.parse"

        # Another tenant's task does not exist for them.
        for path in (f"/api/status/{task_id}", f"/jobs/{task_id}", f"/jobs/{task_id}/events"):
            foreign = await gateway_client.get(path, headers=other.headers)
            assert foreign.status_code == 404, path
        assert (
            "error"
            in (await gateway_client.get(f"/api/status/{task_id}", headers=other.headers)).json()
        )

    # ?async=true in the query works as the form field does.
    query = await upload(gateway_client, user, json_bytes(tiny_export()), params={"async": "true"})
    assert set(query.json()) == {"task_id"}


async def test_unknown_and_malformed_task_ids_are_404(gateway_client: httpx.AsyncClient) -> None:
    user = await register_skype_user(gateway_client)
    for task_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = await gateway_client.get(f"/api/status/{task_id}", headers=user.headers)
        assert response.status_code == 404
        assert response.json()["error"]
        assert (
            await gateway_client.get(f"/jobs/{task_id}", headers=user.headers)
        ).status_code == 404


async def test_webhooks_are_not_routed_and_refuse_unsigned_calls(
    gateway_client: httpx.AsyncClient, platform: object
) -> None:
    routed = await gateway_client.post("/webhooks/job.started", json={"job_id": "x"})
    assert routed.status_code == 404
    ingest = platform.service_urls["ingest"]  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=ingest) as direct:
        unsigned = await direct.post("/webhooks/job.started", json={"topic": "job.started"})
        assert unsigned.status_code == 401
        forged = await direct.post(
            "/webhooks/job.started",
            content=b'{"topic": "job.started"}',
            headers={"X-Quarry-Signature": "t=1,v1=00", "X-Quarry-Event-Id": "e1"},
        )
        assert forged.status_code == 401


async def test_a_declared_body_above_the_hard_maximum_is_refused_before_it_is_sent(
    platform: object, gateway_client: httpx.AsyncClient
) -> None:
    """413 from the gateway on the headers alone (Content-Length above 1 GiB): nothing
    of the body is read."""
    import asyncio
    from urllib.parse import urlsplit

    user = await register_skype_user(gateway_client)
    gateway = urlsplit(platform.gateway_url)  # type: ignore[attr-defined]
    reader, writer = await asyncio.open_connection(gateway.hostname, gateway.port)
    try:
        writer.write(
            b"POST /api/upload HTTP/1.1\r\nHost: quarry\r\n"
            + f"X-API-Key: {user.api_key}\r\nX-Forwarded-For: {user.ip}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {2 * 1024**3}\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head
