"""The ``skype.parse`` job: a Skype export from S3 into analysis, with flat memory.

1. *extract*: download the upload, open it with skypelib's container (tar, gzip or bare
   messages.json, checked against bombs and traversal) and ask analysis for the
   export's id (``skype.export.open``: idempotent per job, so a redelivered job
   loads into the same export);
2. *transform*: in a thread, stream the messages (skypelib's parser) a batch at a
   time, column-wise: ``SkypeAnalytics.add_batch`` and the COPY rows (a polars frame,
   written by a second thread while the next batch is parsed), ``skype_chunk_messages``
   per CSV chunk. Meanwhile, on the event loop, each finished chunk is uploaded and handed to
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
import base64
import contextlib
import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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
    SkypeMessage,
    open_messages_json,
    parse_export,
)
from services.ingest.worker.skype.columns import message_columns
from shared.log import get_logger

log = get_logger("services.ingest.worker.skype_parse")

JOB_TYPE = "skype.parse"
MAX_PENDING_CHUNKS = 2
BATCH_MESSAGES = 8192  # messages counted and written column-wise at a time
INLINE_CHUNK_BYTES = 12 * 1024 * 1024  # a chunk's rows in the webhook (its limit: 16 MB)
CSV = "text/csv"


@dataclass
class Chunk:
    index: int
    first_seq: int
    rows: int
    data: bytes
    """The chunk's CSV rows (``chunk_messages`` rows: a few MB)."""


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


class _ChunkWriter:
    """The COPY chunks of one export, in memory: rows appended a batch at a time by a
    thread of its own (polars writes CSV with the GIL released, so the next batch is
    parsed meanwhile); at most one batch is being written while the next is built."""

    def __init__(
        self,
        ctx: JobContext,
        chunk_messages: int,
        shared: Shared,
        emit: Callable[[Chunk], None],
    ) -> None:
        self._ctx = ctx
        self._chunk_messages = chunk_messages
        self._shared = shared
        self._emit = emit
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="skype-copy-rows")
        self._writing: Future[None] | None = None
        self._out: io.BytesIO | None = None
        self._index = 0
        self._first_seq = 0
        self._rows = 0

    def room(self) -> int:
        """Rows the chunk being written (or the next) still takes."""
        return self._chunk_messages - self._rows

    def write(self, frame: Any, first_seq: int) -> None:
        if self._out is None:
            self._shared.slots.acquire()
            self._ctx.check_cancelled()
            self._out = io.BytesIO()
            self._first_seq = first_seq
            self._rows = 0
        self._wait()
        self._writing = self._pool.submit(bulk_rows.write_message_rows, self._out, frame)
        self._rows += frame.height
        if self._rows >= self._chunk_messages:
            self.close_chunk()

    def close_chunk(self) -> None:
        if self._out is None:
            return
        self._wait()
        data = self._out.getvalue()
        self._out = None
        self._emit(Chunk(self._index, self._first_seq, self._rows, data))
        self._index += 1
        self._rows = 0

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def abandon(self) -> None:
        """After a failure: the file closed, nothing emitted."""
        with contextlib.suppress(Exception):
            self._wait()
        self._out = None
        self._pool.shutdown(wait=True)

    def finish(self) -> None:
        self.close_chunk()
        self._pool.shutdown(wait=True)


def parse_to_chunks(
    ctx: JobContext,
    source: Path,
    export_id: int,
    chunk_messages: int,
    shared: Shared,
    emit: Callable[[Chunk], None],
) -> Parsed:
    """The transform phase (runs in a thread): messages → analytics + CSV chunks, a batch
    of up to ``BATCH_MESSAGES`` at a time, column-wise (``message_columns``, read by
    both the analytics and the rows)."""
    started = time.perf_counter()
    client_id = ctx.owner.client_id
    seq = 0
    analytics = SkypeAnalytics(owner_id=None)  # the owner is known after the header
    writer = _ChunkWriter(ctx, chunk_messages, shared, emit)
    limits = ParseLimits()
    pending: list[SkypeMessage] = []

    def flush(batch: list[SkypeMessage]) -> None:
        nonlocal seq
        columns = message_columns(batch)
        analytics.add_batch(batch, columns)
        writer.write(bulk_rows.message_frame(export_id, seq, client_id, columns), seq)
        seq += len(batch)

    with open_messages_json(source, limits) as stream:
        export = parse_export(stream, limits)
        try:
            for batch in export.batches():
                pending.extend(batch)
                while len(pending) >= min(BATCH_MESSAGES, writer.room()):
                    take = min(BATCH_MESSAGES, writer.room())
                    flush(pending[:take])
                    del pending[:take]
                    ctx.check_cancelled()
                    shared.messages = seq
                    shared.fraction = stream.progress()
            if pending:
                flush(pending)
            writer.finish()
        except BaseException:
            writer.abandon()
            raise
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


async def _chunk_source(ctx: JobContext, chunk: Chunk) -> dict[str, Any]:
    """Where analysis reads a chunk's rows: inline in the webhook (``csv_base64``: base64
    keeps the JSON the size of the rows plus a third, ASCII, without escapes) when it
    fits ``INLINE_CHUNK_BYTES`` -- nearly always: no object store round trip, no second
    copy of the rows in S3 --, else an artifact in S3 (``bucket``, ``key``)."""
    if (len(chunk.data) + 2) // 3 * 4 <= INLINE_CHUNK_BYTES:
        return {"csv_base64": base64.b64encode(chunk.data).decode("ascii")}
    path = ctx.work_dir / f"chunk-{chunk.index}.csv"
    await asyncio.to_thread(path.write_bytes, chunk.data)
    try:
        return await ctx.upload_artifact(f"messages/chunk-{chunk.index:05d}.csv", path, CSV)
    finally:
        await asyncio.to_thread(path.unlink, True)


async def _deliver_chunks(
    ctx: JobContext, export_id: int, chunks: asyncio.Queue[Chunk | None], shared: Shared
) -> tuple[int, float]:
    """Hand each chunk to analysis, which COPYs it; (rows loaded, seconds analysis spent)."""
    loaded = 0
    load_seconds = 0.0
    while True:
        chunk = await chunks.get()
        if chunk is None:
            return loaded, load_seconds
        try:
            source = await _chunk_source(ctx, chunk)
            del chunk.data
            answer = await ctx.deliver(
                "analysis",
                "skype.export.chunk",
                {
                    "export_id": export_id,
                    "chunk": chunk.index,
                    "first_seq": chunk.first_seq,
                    "rows": chunk.rows,
                    **source,
                },
            )
            del source
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
