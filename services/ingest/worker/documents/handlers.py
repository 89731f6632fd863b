"""The Files jobs in the worker: ``document.convert``, ``document.parse`` and
``document.tonality``.

Each downloads the job's file, runs the :class:`DocumentProcessor`, reports the
outcome on the Files system's own webhook (``converter-webhook``, ``parser-webhook``,
``analysis-webhook``: ingest records the result and caches it), and returns the same
body as the job's result (``job.completed``). A document that cannot be processed is
reported with ``status: "failed"`` (the receiver answers 204 and caches nothing), and
the job fails with the reason (no retry: the same document fails the same way).
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path, PurePath
from typing import Any

from services.ingest.worker.context import JobContext
from services.ingest.worker.documents.errors import ConverterUnavailable, DocumentRejected
from services.ingest.worker.documents.kinds import DocumentKind, parse_kind
from services.ingest.worker.documents.runtime import document_processor
from services.ingest.worker.errors import JobFailed

CONVERT = "document.convert"
PARSE = "document.parse"
TONALITY = "document.tonality"
TOPICS = {
    CONVERT: "converter-webhook",
    PARSE: "parser-webhook",
    TONALITY: "analysis-webhook",
}
_DOWNLOAD_URL_SECONDS = 300


def _kind(value: Any, what: str) -> DocumentKind:
    kind = parse_kind(str(value or ""))
    if kind is None:
        raise JobFailed(f"{what} {value!r} is not a document format")
    return kind


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _failed(ctx: JobContext, reason: str, body: dict[str, Any]) -> JobFailed:
    """Tell the Files webhook (204: nothing cached), then fail the job."""
    await ctx.deliver("ingest", TOPICS[ctx.type], {**body, "status": "failed", "message": reason})
    return JobFailed(reason)


async def convert(ctx: JobContext) -> dict[str, Any]:
    source_kind = _kind(ctx.params.get("format_from"), "format_from")
    target_kind = _kind(ctx.params.get("format_to"), "format_to")
    empty = {"file_url": None, "new_s3_key": None}
    processor = document_processor()
    await ctx.progress(5, "Downloading", phase="download")
    source = await ctx.download()
    await ctx.progress(20, f"Converting {source_kind} to {target_kind}", phase="convert")
    try:
        converted = await processor.convert(
            source, source_kind, target_kind, ctx.work_dir, filename=ctx.file.filename
        )
    except (DocumentRejected, ConverterUnavailable) as exc:
        reason = exc.reason if isinstance(exc, DocumentRejected) else str(exc)
        raise await _failed(ctx, reason, empty) from exc
    await ctx.progress(80, "Storing the converted file", phase="store")
    filename = f"{PurePath(ctx.file.filename).stem or 'document'}.{target_kind.extension}"
    ref = await ctx.upload_artifact(filename, converted.path, target_kind.content_type)
    file_url = await ctx.s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": ref["bucket"], "Key": ref["key"]},
        ExpiresIn=_DOWNLOAD_URL_SECONDS,
    )
    body = {
        "file_url": file_url,
        "new_s3_key": ref["key"],
        "status": "success",
        "message": None,
        "bucket": ref["bucket"],
        "size": ref["size"],
        "sha256": await asyncio.to_thread(_sha256, converted.path),
        "kind": str(target_kind),
        "filename": filename,
        "content_type": target_kind.content_type,
        "tool": converted.tool,
    }
    answer = await ctx.deliver("ingest", TOPICS[CONVERT], body)
    return {**body, "file_id": answer.get("file_id")}


async def parse(ctx: JobContext) -> dict[str, Any]:
    kind = _kind(ctx.file.kind, "the file's kind")
    keywords = ctx.params.get("keywords")
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise JobFailed("keywords must be a list of strings")
    s3_key = ctx.params.get("s3_key") or ctx.file.key
    source = await ctx.download()
    await ctx.progress(30, "Reading the document", phase="parse")
    try:
        result = await document_processor().parse(
            source, kind, keywords, filename=ctx.file.filename
        )
    except DocumentRejected as exc:
        empty: dict[str, Any] = {"count": 0, "sentences": [], "s3_key": s3_key}
        raise await _failed(ctx, exc.reason, empty) from exc
    body = {"s3_key": s3_key, "status": "success", **result}
    await ctx.deliver("ingest", TOPICS[PARSE], body)
    return body


async def tonality(ctx: JobContext) -> dict[str, Any]:
    kind = _kind(ctx.file.kind, "the file's kind")
    s3_key = ctx.params.get("s3_key") or ctx.file.key
    source = await ctx.download()
    await ctx.progress(30, "Analysing the tonality", phase="tonality")
    try:
        result = await document_processor().tonality(source, kind, filename=ctx.file.filename)
    except DocumentRejected as exc:
        raise await _failed(ctx, exc.reason, {"s3_key": s3_key}) from exc
    body = {"s3_key": s3_key, "status": "success", **result}
    await ctx.deliver("ingest", TOPICS[TONALITY], body)
    return body


DOCUMENT_HANDLERS = {CONVERT: convert, PARSE: parse, TONALITY: tonality}
