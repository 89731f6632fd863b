"""The Files system's worker webhooks on ingest's own port: signed with timestamp and
event id; forged, stale and retargeted ones refused; a redelivered event applied once;
never routed by the gateway. And the two account routes the Files OpenAPI names
differently (``/auth/logout-others``, ``confirm_password``)."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson

from deploy.platform import RunningPlatform
from samples import documents as samples
from shared.webhooks import sign
from tests.e2e.accounts_helpers import STRONG_PASSWORD, other_ip, person
from tests.e2e.test_files import upload, user

TOPICS = ("converter-webhook", "parser-webhook", "analysis-webhook")


def signed(
    secret: str,
    topic: str,
    payload: dict[str, object],
    *,
    event_id: str | None = None,
    now: float | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"topic": topic, **payload})
    headers = {
        "Content-Type": "application/json",
        **sign(secret, event_id or str(uuid.uuid4()), body, now=now),
    }
    return body, headers


async def finished_parse_job(gw: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    """A completed document.parse job of a new file: (job id, s3_key)."""
    stored = await upload(gw, headers, "hook.txt", samples.sample("txt", 70, sections=1).data)
    answer = await gw.post(
        "/files/parse-file",
        json={"s3_key": stored["s3_key"], "keywords": ["budget"]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["job_id"]), str(stored["s3_key"])


async def test_webhooks_are_signed_and_replays_refused(
    platform: RunningPlatform, gateway_client: httpx.AsyncClient, unique: str
) -> None:
    secret = platform.env["QUARRY_WEBHOOK_SECRET"]
    alice = await user(gateway_client, unique, "hooks")
    job_id, s3_key = await finished_parse_job(gateway_client, alice)
    payload = {
        "job_id": job_id,
        "attempt": 1,
        "count": 0,
        "sentences": [],
        "s3_key": s3_key,
        "status": "success",
    }
    async with httpx.AsyncClient(base_url=platform.service_urls["ingest"], timeout=30) as ingest:
        body, headers = signed(secret, "parser-webhook", payload)
        accepted = await ingest.post("/webhooks/parser-webhook", content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json() == {"message": "Parsing result cached"}
        # The same event again (a retry): the same answer, applied once.
        again = await ingest.post("/webhooks/parser-webhook", content=body, headers=headers)
        assert again.json() == accepted.json()

        forged = {**headers, "X-Quarry-Signature": headers["X-Quarry-Signature"][:-4] + "0000"}
        assert (
            await ingest.post("/webhooks/parser-webhook", content=body, headers=forged)
        ).status_code == 401
        wrong_key, wrong_headers = signed("not-the-secret-at-all", "parser-webhook", payload)
        refused = await ingest.post(
            "/webhooks/parser-webhook", content=wrong_key, headers=wrong_headers
        )
        assert refused.status_code == 401
        stale_body, stale = signed(secret, "parser-webhook", payload, now=time.time() - 3600)
        assert (
            await ingest.post("/webhooks/parser-webhook", content=stale_body, headers=stale)
        ).status_code == 401
        unsigned = await ingest.post("/webhooks/parser-webhook", content=body)
        assert unsigned.status_code == 401
        # A captured event sent to another topic's route: its signed topic does not match.
        retargeted = await ingest.post("/webhooks/analysis-webhook", content=body, headers=headers)
        assert retargeted.status_code == 400
        # A job of another type, or no job at all.
        other_body, other = signed(secret, "converter-webhook", {**payload, "status": "success"})
        assert (
            await ingest.post("/webhooks/converter-webhook", content=other_body, headers=other)
        ).status_code == 404
        unknown_body, unknown = signed(
            secret, "analysis-webhook", {**payload, "job_id": str(uuid.uuid4())}
        )
        assert (
            await ingest.post("/webhooks/analysis-webhook", content=unknown_body, headers=unknown)
        ).status_code == 404
        # A non-success status is acknowledged without content, nothing cached.
        failed_body, failed = signed(secret, "parser-webhook", {**payload, "status": "failed"})
        nothing = await ingest.post("/webhooks/parser-webhook", content=failed_body, headers=failed)
        assert nothing.status_code == 204
        assert nothing.content == b""


async def test_the_gateway_never_routes_the_webhooks(gateway_client: httpx.AsyncClient) -> None:
    for topic in TOPICS:
        response = await gateway_client.post(f"/webhooks/{topic}", json={"topic": topic})
        assert response.status_code == 404, (topic, response.status_code)


async def test_registration_takes_confirm_password_and_logout_others_counts(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    who = person(unique, "confirm")
    registered = await gateway_client.post(
        "/auth/registration",
        json={
            "username": who.username,
            "email": who.email,
            "password": STRONG_PASSWORD,
            "confirm_password": STRONG_PASSWORD,
        },
        headers=who.headers,
    )
    assert registered.status_code == 201, registered.text
    mismatch = await gateway_client.post(
        "/auth/registration",
        json={
            "username": f"x{who.username}",
            "email": f"x{who.email}",
            "password": STRONG_PASSWORD,
            "confirm_password": STRONG_PASSWORD + "?",
        },
        headers=who.headers,
    )
    assert mismatch.status_code == 400
    sessions = []
    for _ in range(3):
        login = await gateway_client.post(
            "/auth/login",
            json={"username": who.username, "password": STRONG_PASSWORD},
            headers={"X-Forwarded-For": other_ip()},
        )
        assert login.status_code == 200, login.text
        sessions.append(login.cookies["session_id"])
        gateway_client.cookies.clear()
    first = {"Cookie": f"session_id={sessions[0]}", **who.headers}
    answer = await gateway_client.post("/auth/logout-others", headers=first)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"message": "Logout others successfully", "count": "2"}
    assert (await gateway_client.post("/auth/logout-others", headers=first)).json() == {
        "message": "No external sessions",
        "count": "0",
    }
    gone = {"Cookie": f"session_id={sessions[1]}", **who.headers}
    assert (await gateway_client.post("/auth/logout", headers=gone)).status_code == 401
    assert (await gateway_client.post("/auth/logout-others")).status_code == 401
