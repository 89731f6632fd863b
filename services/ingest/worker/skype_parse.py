"""The ``skype.parse`` job: a Skype export from S3 into analysis, with flat memory.

1. *extract*: download the upload, open it with skypelib's container (tar, gzip or bare
   messages.json, checked against bombs and traversal) and ask analysis for the
   export's id (``skype.export.open``: idempotent per job, so a redelivered job
   loads into the same export);
2. *transform*: in a thread, stream the messages (skypelib's parser), feed
   ``SkypeAnalytics`` and write them as COPY rows, ``skype_chunk_messages`` per CSV
   chunk. Meanwhile, on the event loop, each finished chunk is uploaded and handed to
   analysis (``skype.export.chunk``), which COPYs it while the next one is parsed, and
   progress (share of the upload read) goes to ingest;
3. *load*: ``skype.export.complete`` with the conversations, the header and the
   analysis document; analysis checks every chunk is loaded and marks it ready.

Bad input (skypelib's ``InvalidExport``) fails the job with its reason. At most
``MAX_PENDING_CHUNKS`` chunk files wait on disk, so a slow database slows the parse
rather than filling the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.ingest.worker import bulk_rows
from services.ingest.worker.context import JobContext
from services.ingest.worker.errors import JobCancelled, JobFailed
from services.ingest.worker.skype import (
    InvalidExport,
    ParseLimits,
    SkypeAnalytics,
    open_messages_json,
    parse_export,
)
from shared.log import get_logger

log = get_logger("services.ingest.worker.skype_parse")

JOB_TYPE = "skype.parse"
MAX_PENDING_CHUNKS = 2
CHECK_EVERY = 2048  # messages between two looks at cancellation and progress
CSV = "text/csv"


@dataclass
class Chunk:
    index: int
    first_seq: int
    rows: int
    path: Path


@dataclass
class Parsed:
    header_user_id: str | None
    export_date: str | None
    conversations_path: Path
    conversation_count: int
    message_count: int
    analysis: dict[str, Any]
    skipped: dict[str, int]
    seconds: float


@dataclass
class Shared:
    """State the parse thread and the event loop both see."""

    fraction: float = 0.0
    messages: int = 0
    slots: threading.Semaphore = field(
        default_factory=lambda: threading.Semaphore(MAX_PENDING_CHUNKS)
    )


def parse_to_chunks(
    ctx: JobContext,
    source: Path,
    export_id: int,
    chunk_messages: int,
    shared: Shared,
    emit: Callable[[Chunk], None],
) -> Parsed:
    """The transform phase (runs in a thread): messages → analytics + CSV chunks."""
    started = time.perf_counter()
    client_id = ctx.owner.client_id
    row = bulk_rows.message_row
    seq = 0
    index = 0
    analytics = SkypeAnalytics(owner_id=None)  # the owner is known after the header
    out = None
    writer: Any = None
    in_chunk = 0
    chunk_path = ctx.work_dir / "chunk-0.csv"
    limits = ParseLimits()
    with open_messages_json(source, limits) as stream:
        export = parse_export(stream, limits)
        try:
            for message in export.messages():
                analytics.add(message)
                if writer is None:
                    shared.slots.acquire()
                    ctx.check_cancelled()
                    chunk_path = ctx.work_dir / f"chunk-{index}.csv"
                    out = chunk_path.open("w", encoding="utf-8", newline="")
                    writer = bulk_rows.csv_writer(out)
                    in_chunk = 0
                writer.writerow(row(export_id, seq, client_id, message))
                seq += 1
                in_chunk += 1
                if in_chunk >= chunk_messages:
                    assert out is not None
                    out.close()
                    emit(Chunk(index, seq - in_chunk, in_chunk, chunk_path))
                    index += 1
                    writer = out = None
                if seq % CHECK_EVERY == 0:
                    ctx.check_cancelled()
                    shared.messages = seq
                    shared.fraction = stream.progress()
        finally:
            if out is not None:
                out.close()
        if writer is not None and in_chunk:
            emit(Chunk(index, seq - in_chunk, in_chunk, chunk_path))
        shared.messages = seq
        shared.fraction = 1.0
        conversations = export.conversations()
        header = export.header
        analytics.owner_id = header.user_id
        document = analytics.result(conversations, export.contact_names())
        conversations_path = ctx.work_dir / "conversations.csv"
        with conversations_path.open("w", encoding="utf-8", newline="") as conv_out:
            conv_writer = bulk_rows.csv_writer(conv_out)
            for conversation in conversations:
                conv_writer.writerow(bulk_rows.conversation_row(export_id, conversation))
    return Parsed(
        header_user_id=header.user_id,
        export_date=header.export_date.isoformat() if header.export_date else None,
        conversations_path=conversations_path,
        conversation_count=len(conversations),
        message_count=seq,
        analysis=document,
        skipped=dict(getattr(export, "skipped", {}) or {}),
        seconds=time.perf_counter() - started,
    )


async def _deliver_chunks(
    ctx: JobContext, export_id: int, chunks: asyncio.Queue[Chunk | None], shared: Shared
) -> tuple[int, float]:
    """Upload each chunk and have analysis COPY it; (rows loaded, seconds analysis spent)."""
    loaded = 0
    load_seconds = 0.0
    while True:
        chunk = await chunks.get()
        if chunk is None:
            return loaded, load_seconds
        try:
            ref = await ctx.upload_artifact(
                f"messages/chunk-{chunk.index:05d}.csv", chunk.path, CSV
            )
            await asyncio.to_thread(chunk.path.unlink, True)
            answer = await ctx.deliver(
                "analysis",
                "skype.export.chunk",
                {
                    "export_id": export_id,
                    "chunk": chunk.index,
                    "first_seq": chunk.first_seq,
                    "rows": chunk.rows,
                    **ref,
                },
            )
        finally:
            shared.slots.release()
        if answer.get("status") == "deleted":
            raise JobFailed("The export was deleted while it was being processed")
        loaded += int(answer.get("loaded", 0))
        load_seconds += float(answer.get("duration_seconds", 0.0))


async def _report_progress(ctx: JobContext, shared: Shared, done: asyncio.Event) -> None:
    """Best effort: a lost progress webhook is not a reason to stop the job (a
    ``JobCancelled`` from ingest sets ``ctx.cancelled``, which stops the parse)."""
    while not done.is_set():
        percent = 5 + int(85 * shared.fraction)
        try:
            await ctx.progress(percent, f"Parsed {shared.messages:,} messages", phase="transform")
        except JobCancelled:
            return
        except Exception as exc:
            log.warning("progress_not_delivered", job_id=ctx.job_id, error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), max(0.2, ctx.progress_interval))


async def handle(ctx: JobContext) -> dict[str, Any]:
    started = time.perf_counter()
    await ctx.progress(1, "Fetching the export", phase="extract")
    source = await ctx.download()
    opened = await ctx.deliver(
        "analysis",
        "skype.export.open",
        {
            "file_id": ctx.file.file_id,
            "owner": {"user_id": ctx.owner.user_id, "client_id": ctx.owner.client_id},
            "filename": ctx.file.filename,
            "size": ctx.file.size,
            "sha256": ctx.file.sha256,
            "bucket": ctx.bucket,
            "user_display_name": ctx.params.get("user_display_name"),
        },
    )
    export_id = int(opened["export_id"])
    if opened.get("status") == "deleted":
        raise JobFailed("The export was deleted while it was being processed")
    if opened.get("status") == "ready" and isinstance(opened.get("result"), dict):
        # An earlier attempt loaded it all and died before reporting: nothing to redo.
        return finished_result(opened["result"])
    extract_seconds = time.perf_counter() - started
    await ctx.progress(5, "Reading messages", phase="transform")

    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[Chunk | None] = asyncio.Queue()
    shared = Shared()
    done = asyncio.Event()

    def emit(chunk: Chunk) -> None:
        loop.call_soon_threadsafe(chunks.put_nowait, chunk)

    delivering = asyncio.create_task(_deliver_chunks(ctx, export_id, chunks, shared))
    reporting = asyncio.create_task(_report_progress(ctx, shared, done))
    parse = asyncio.ensure_future(
        asyncio.to_thread(
            parse_to_chunks,
            ctx,
            source,
            export_id,
            ctx.settings.skype_chunk_messages,
            shared,
            emit,
        )
    )
    try:
        # Whichever fails first ends the job; a delivery failure must stop the parse.
        await asyncio.wait({parse, delivering}, return_when=asyncio.FIRST_COMPLETED)
        if delivering.done():  # before the parse ended: it failed
            ctx.cancelled.set()
            await delivering
        try:
            parsed = await parse
        except InvalidExport as exc:
            raise JobFailed(exc.reason) from exc
        chunks.put_nowait(None)
        loaded, copy_seconds = await delivering
    finally:
        done.set()
        if not parse.done():
            ctx.cancelled.set()
        # Unblock a parse waiting for a chunk slot, then let it see the cancellation.
        for _ in range(MAX_PENDING_CHUNKS):
            shared.slots.release()
        delivering.cancel()
        reporting.cancel()
        pending: list[asyncio.Future[Any]] = [parse, delivering, reporting]
        for future in pending:
            # Their outcome was taken above (or the job already failed another way).
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future
    transform_seconds = parsed.seconds
    await ctx.progress(92, "Storing the analysis", phase="load")
    finalize_started = time.perf_counter()
    conversations_ref = await ctx.upload_artifact(
        "conversations.csv", parsed.conversations_path, CSV
    )
    completed = await ctx.deliver(
        "analysis",
        "skype.export.complete",
        {
            "export_id": export_id,
            "header": {"user_id": parsed.header_user_id, "export_date": parsed.export_date},
            "conversations": {**conversations_ref, "rows": parsed.conversation_count},
            "message_count": parsed.message_count,
            "analysis": parsed.analysis,
            "skipped": parsed.skipped,
        },
    )
    if completed.get("status") == "deleted":
        raise JobFailed("The export was deleted while it was being processed")
    load_seconds = copy_seconds + (time.perf_counter() - finalize_started)
    stored = int(completed.get("message_count", loaded))
    conversations = int(completed.get("conversation_count", parsed.conversation_count))
    return {
        "export_id": export_id,
        "conversations": conversations,
        "message_count": stored,
        "phases": {
            "extract": {
                "status": "completed",
                "processed_conversations": parsed.conversation_count,
                "processed_messages": parsed.message_count,
                "duration_seconds": round(extract_seconds, 3),
            },
            "transform": {
                "status": "completed",
                "processed_conversations": parsed.conversation_count,
                "processed_messages": parsed.message_count,
                "duration_seconds": round(transform_seconds, 3),
            },
            "load": {
                "status": "completed",
                "processed_conversations": conversations,
                "processed_messages": stored,
                "duration_seconds": round(load_seconds, 3),
                "export_id": export_id,
            },
        },
        "skipped_messages": sum(parsed.skipped.values()),
    }


def finished_result(summary: dict[str, Any]) -> dict[str, Any]:
    """The job result of an export an earlier attempt already loaded."""
    conversations = int(summary.get("conversations", 0))
    messages = int(summary.get("message_count", 0))
    phase = {
        "status": "completed",
        "processed_conversations": conversations,
        "processed_messages": messages,
        "duration_seconds": 0.0,
    }
    return {
        **summary,
        "phases": {
            "extract": phase,
            "transform": phase,
            "load": {**phase, "export_id": summary.get("export_id")},
        },
    }
