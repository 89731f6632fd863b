"""The worker's Skype webhooks to analysis: every message loaded exactly once, whatever
is redelivered; a deleted export stays deleted; a forged or replayed webhook is refused."""

from __future__ import annotations

import base64
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


def hostile_messages() -> list[Any]:
    """SkypeMessages with every value the COPY rows must carry exactly: NULs, empty
    optional texts (NULL), quotes, CR/LF, tabs, backslashes, times off the millisecond
    and outside 1900-2039, edits, calls, media, mentions."""
    from datetime import UTC, datetime, timedelta

    from services.ingest.worker.skype import SkypeMessage

    base = datetime(2020, 7, 6, 17, 0, 0, 123456, tzinfo=UTC)
    odd_times = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    messages = []
    for seq in range(40):
        sent = odd_times[seq % 2] if seq in (7, 8) else base + timedelta(microseconds=seq * 7777)
        messages.append(
            SkypeMessage(
                conversation_id="8:live:.cid.aaaa" if seq % 3 else "19:g\x00x@thread.skype",
                message_id=str(1594056032374 + seq),
                sender_id="8:live:.cid.bbbb" if seq % 2 else "8:\x00c",
                sender_name=("", "\x00", None, 'Ana "R"', "Zoë,\r\n")[seq % 5],
                sent_at=sent,
                raw_type="RichText" if seq % 4 else "Event/Call",
                category="text" if seq % 4 else "call",
                text=("", f'hello, "world"\r\n{seq}\t\\ \x00end', "\\.", "x" * 300)[seq % 4],
                edited_at=sent + timedelta(seconds=5) if seq % 6 == 0 else None,
                deleted=seq % 7 == 0,
                call_duration_s=(None, 12.5, 0.1 + 0.2)[seq % 3] if seq % 4 == 0 else None,
                call_event="ended" if seq % 4 == 0 else None,
                media_name=("", "a.png", None)[seq % 3],
                media_size=(None, 12345, 2**40)[seq % 3],
                quote_of=("", "159", None)[seq % 3],
                mentions=(("8:a", 'q"uote', "b\\s"), ())[seq % 2],
                edit_of=(None, "", "1594056032374")[seq % 3],
            )
        )
    return messages


async def all_rows(db: AsyncEngine, export_id: int) -> list[tuple[Any, ...]]:
    async with db.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT seq, client_id, conversation_id, message_id, sender_id, sender_name, "
                "sent_at, edited_at, category, raw_type, content, deleted, call_duration_s, "
                "call_event, media_name, media_size, quote_of, edit_of, mentions "
                "FROM analysis.skype_messages WHERE export_id = :e ORDER BY seq"
            ),
            {"e": export_id},
        )
        return [tuple(row) for row in result.all()]


async def test_column_wise_rows_sent_inline_load_exactly_as_row_by_row_ones_from_s3(
    worker: Worker, s3: Any, db: AsyncEngine
) -> None:
    from services.ingest.worker.skype.columns import message_columns

    messages = hostile_messages()
    loaded = []
    for writer in ("rows", "columns"):
        job_id = str(uuid.uuid4())
        export_id = (await open_export(worker, job_id))["export_id"]
        if writer == "rows":
            data = csv_of(
                [bulk_rows.message_row(export_id, s, CLIENT, m) for s, m in enumerate(messages)]
            )
        else:
            out = io.BytesIO()
            for start in (0, 25):  # two batches in one chunk
                batch = messages[start : start + 25]
                frame = bulk_rows.message_frame(export_id, start, CLIENT, message_columns(batch))
                bulk_rows.write_message_rows(out, frame)
            data = out.getvalue()
        # The row-by-row file through S3, the column-wise one inline (as the worker sends
        # a chunk that fits a webhook).
        source = (
            await put(s3, f"artifacts/{job_id}/messages/chunk-00000.csv", data)
            if writer == "rows"
            else {"csv_base64": base64.b64encode(data).decode("ascii")}
        )
        payload = {"job_id": job_id, "export_id": export_id, "chunk": 0, "first_seq": 0}
        response = await worker.send("skype.export.chunk", {**payload, "rows": 40, **source})
        assert response.status_code == 200, response.text
        loaded.append(await all_rows(db, export_id))
    by_rows, by_columns = loaded
    assert len(by_rows) == 40
    assert by_columns == by_rows
    assert by_rows[1][5] is None  # "\x00" as a name: NULL, like an empty one
    assert by_rows[1][10] == 'hello, "world"\r\n1\t\\ end'
    assert by_rows[8][6].year == 1
    assert by_rows[7][6].year == 9999
