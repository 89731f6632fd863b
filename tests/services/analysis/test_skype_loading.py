"""The worker's Skype webhooks to analysis: every message loaded exactly once, whatever
is redelivered; a deleted export stays deleted; a forged or replayed webhook is refused."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.worker import bulk_rows
from shared.webhooks import sign
from tests.services.analysis.conftest import BUCKET, WEBHOOK_SECRET, Worker

CLIENT = str(uuid.uuid4())


class FakeMessage:
    """The fields of a SkypeMessage that bulk_rows reads."""

    def __init__(self, seq: int, **overrides: Any) -> None:
        from datetime import UTC, datetime, timedelta

        self.conversation_id = "8:live:.cid.aaaa"
        self.message_id = str(1594056032374 + seq)
        self.sender_id = "8:live:.cid.bbbb"
        self.sender_name = "Ana R"
        self.sent_at = datetime(2020, 7, 6, 17, 0, tzinfo=UTC) + timedelta(seconds=seq)
        self.edited_at = None
        self.category = "text"
        self.raw_type = "RichText"
        self.text = f'hello, "world"\n{seq}\t\\ \x00end'
        self.deleted = False
        self.call_duration_s = None
        self.call_event = None
        self.media_name = None
        self.media_size = None
        self.quote_of = None
        self.edit_of = None
        self.mentions: tuple[str, ...] = ("8:a", 'q"uote')
        for name, value in overrides.items():
            setattr(self, name, value)


class FakeConversation:
    def __init__(self, count: int) -> None:
        self.id = "8:live:.cid.aaaa"
        self.name = "Ana R"
        self.kind = "one_to_one"
        self.participants = ("8:live:.cid.bbbb", "8:me")
        self.message_count = count


def csv_of(rows: list[tuple[Any, ...]]) -> bytes:
    out = io.StringIO(newline="")
    writer = bulk_rows.csv_writer(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()


async def put(s3: Any, key: str, data: bytes) -> dict[str, Any]:
    await s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return {"bucket": BUCKET, "key": key}


async def open_export(worker: Worker, job_id: str) -> dict[str, Any]:
    response = await worker.send(
        "skype.export.open",
        {
            "job_id": job_id,
            "attempt": 1,
            "file_id": None,
            "owner": {"user_id": "u1", "client_id": CLIENT},
            "filename": "export.tar",
            "size": 10,
            "sha256": "0" * 64,
            "bucket": BUCKET,
        },
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def send_chunk(
    worker: Worker, s3: Any, job_id: str, export_id: int, chunk: int, seqs: range, **kw: Any
) -> dict[str, Any]:
    data = csv_of(
        [bulk_rows.message_row(export_id, seq, CLIENT, FakeMessage(seq, **kw)) for seq in seqs]
    )
    ref = await put(s3, f"artifacts/{job_id}/messages/chunk-{chunk:05d}.csv", data)
    response = await worker.send(
        "skype.export.chunk",
        {
            "job_id": job_id,
            "export_id": export_id,
            "chunk": chunk,
            "first_seq": seqs.start,
            "rows": len(seqs),
            **ref,
        },
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def complete(
    worker: Worker, s3: Any, job_id: str, export_id: int, count: int
) -> dict[str, Any]:
    conversations = await put(
        s3,
        f"artifacts/{job_id}/conversations.csv",
        csv_of([bulk_rows.conversation_row(export_id, FakeConversation(count))]),
    )
    response = await worker.send(
        "skype.export.complete",
        {
            "job_id": job_id,
            "export_id": export_id,
            "header": {"user_id": "8:me", "export_date": "2020-07-06T20:55:00"},
            "conversations": {**conversations, "rows": 1},
            "message_count": count,
            "analysis": {"message_count": count, "conversation_count": 1},
        },
    )
    answer: dict[str, Any] = response.json()
    answer["_status"] = response.status_code
    return answer


async def message_rows(db: AsyncEngine, export_id: int) -> list[tuple[Any, ...]]:
    async with db.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT seq, content, mentions, deleted FROM analysis.skype_messages "
                "WHERE export_id = :e ORDER BY seq"
            ),
            {"e": export_id},
        )
        return [tuple(row) for row in result.all()]


async def test_a_redelivered_job_leaves_one_copy_of_every_message(
    worker: Worker, s3: Any, db: AsyncEngine
) -> None:
    job_id = str(uuid.uuid4())
    first = await open_export(worker, job_id)
    assert first["status"] == "loading"
    export_id = first["export_id"]
    assert isinstance(export_id, int)
    # Attempt 1 loads two chunks and dies; attempt 2 (same job) sends everything again.
    await send_chunk(worker, s3, job_id, export_id, 0, range(0, 5))
    await send_chunk(worker, s3, job_id, export_id, 1, range(5, 10))
    again = await open_export(worker, job_id)
    assert again["export_id"] == export_id
    skipped = await send_chunk(worker, s3, job_id, export_id, 0, range(0, 5))
    assert skipped["skipped"] is True
    await send_chunk(worker, s3, job_id, export_id, 1, range(5, 10))
    await send_chunk(worker, s3, job_id, export_id, 2, range(10, 12))
    done = await complete(worker, s3, job_id, export_id, 12)
    assert done["_status"] == 200, done
    assert done["message_count"] == 12
    assert done["conversation_count"] == 1
    rows = await message_rows(db, export_id)
    assert [row[0] for row in rows] == list(range(12))
    # CSV round trip: quotes, newlines, tabs, backslashes survive; NUL is dropped.
    assert rows[3][1] == 'hello, "world"\n3\t\\ end'
    assert rows[3][2] == ["8:a", 'q"uote']
    assert rows[3][3] is False
    # A third attempt after completion is told the export is ready, with its result.
    ready = await open_export(worker, job_id)
    assert ready["status"] == "ready"
    assert ready["result"]["message_count"] == 12
    # The worker's artifacts are gone once loaded.
    listed = await s3.list_objects_v2(Bucket=BUCKET, Prefix=f"artifacts/{job_id}/")
    assert listed.get("KeyCount", 0) == 0


async def test_a_chunk_with_another_range_replaces_it_and_what_follows(
    worker: Worker, s3: Any, db: AsyncEngine
) -> None:
    job_id = str(uuid.uuid4())
    export_id = (await open_export(worker, job_id))["export_id"]
    await send_chunk(worker, s3, job_id, export_id, 0, range(0, 4))
    await send_chunk(worker, s3, job_id, export_id, 1, range(4, 8))
    # A new attempt chunked differently (another chunk size): chunk 0 covers 0..5.
    await send_chunk(worker, s3, job_id, export_id, 0, range(0, 6), text="second attempt")
    await send_chunk(worker, s3, job_id, export_id, 1, range(6, 8), text="second attempt")
    done = await complete(worker, s3, job_id, export_id, 8)
    assert done["_status"] == 200, done
    rows = await message_rows(db, export_id)
    assert [row[0] for row in rows] == list(range(8))
    assert {row[1] for row in rows} == {"second attempt"}


async def test_completing_with_a_missing_chunk_is_refused(worker: Worker, s3: Any) -> None:
    job_id = str(uuid.uuid4())
    export_id = (await open_export(worker, job_id))["export_id"]
    await send_chunk(worker, s3, job_id, export_id, 0, range(0, 3))
    done = await complete(worker, s3, job_id, export_id, 6)
    assert done["_status"] == 409
    assert "3 messages are loaded" in done["message"]


async def test_the_same_event_is_applied_once(worker: Worker, s3: Any, db: AsyncEngine) -> None:
    job_id = str(uuid.uuid4())
    export_id = (await open_export(worker, job_id))["export_id"]
    data = csv_of([bulk_rows.message_row(export_id, s, CLIENT, FakeMessage(s)) for s in range(3)])
    ref = await put(s3, f"artifacts/{job_id}/messages/chunk-00000.csv", data)
    payload = {"job_id": job_id, "export_id": export_id, "chunk": 0, "first_seq": 0, "rows": 3}
    event = str(uuid.uuid4())
    first = await worker.send("skype.export.chunk", {**payload, **ref}, event_id=event)
    second = await worker.send("skype.export.chunk", {**payload, **ref}, event_id=event)
    assert first.json() == second.json()
    assert len(await message_rows(db, export_id)) == 3


async def test_unsigned_replayed_and_retargeted_webhooks_are_refused(worker: Worker) -> None:
    body = orjson.dumps({"topic": "skype.export.open", "job_id": str(uuid.uuid4())})
    unsigned = await worker.client.post("/webhooks/skype.export.open", content=body)
    assert unsigned.status_code == 401
    stale = sign(WEBHOOK_SECRET, "e-stale", body, now=time.time() - 3600)
    replayed = await worker.client.post("/webhooks/skype.export.open", content=body, headers=stale)
    assert replayed.status_code == 401
    wrong_key = sign("another-secret-entirely", "e-wrong", body)
    forged = await worker.client.post(
        "/webhooks/skype.export.open", content=body, headers=wrong_key
    )
    assert forged.status_code == 401
    # Signed for one topic, sent to another: the signed body names its topic.
    fresh = sign(WEBHOOK_SECRET, "e-retarget", body)
    retargeted = await worker.client.post(
        "/webhooks/skype.export.complete", content=body, headers=fresh
    )
    assert retargeted.status_code == 400
