"""The ``dataset.profile`` job: read the uploaded table, profile it in a thread (polars
releases the GIL; the event loop keeps the message's visibility extended), deliver the
profile and the preview to analysis."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from services.ingest.worker.context import JobContext
from services.ingest.worker.datasets.errors import DatasetRefused
from services.ingest.worker.datasets.limits import DatasetLimits
from services.ingest.worker.datasets.profile import PREVIEW_ROWS, profile_file
from services.ingest.worker.errors import JobFailed

JOB_TYPE = "dataset.profile"
PREVIEW_CELLS = 200_000
"""At most this many preview cells are stored (1,000 rows of a very wide table are not)."""
WEBHOOK_BUDGET = 12 << 20
"""Bytes of profile + preview in one webhook (the receivers accept 16 MiB)."""
LIMITS = DatasetLimits()


def _bounded_preview(profile: dict[str, Any], preview: dict[str, Any]) -> dict[str, Any]:
    """The preview cut to what a webhook carries: at most ``PREVIEW_CELLS`` cells, and
    fewer rows while profile and preview together exceed ``WEBHOOK_BUDGET`` bytes."""
    width = max(1, len(preview["columns"]))
    rows = preview["rows"][: max(1, PREVIEW_CELLS // width)]
    fixed = len(orjson.dumps(profile)) + len(orjson.dumps(preview["columns"]))
    while len(rows) > 1 and fixed + len(orjson.dumps(rows)) > WEBHOOK_BUDGET:
        rows = rows[: len(rows) // 2]
    return {"columns": preview["columns"], "rows": rows}


async def profile_dataset(ctx: JobContext) -> dict[str, Any]:
    upload_id = ctx.params.get("upload_id")
    path = await ctx.download()
    await ctx.progress(10, "Reading the dataset", phase="extract")
    try:
        result = await asyncio.to_thread(
            profile_file, path, ctx.file.filename, LIMITS, preview_rows=PREVIEW_ROWS
        )
    except DatasetRefused as exc:
        await ctx.deliver(
            "analysis",
            "dataset.failed",
            {"upload_id": upload_id, "code": exc.code, "reason": exc.reason},
        )
        raise JobFailed(exc.reason) from None
    await ctx.progress(80, "Storing the profile", phase="load")
    payload = {
        "upload_id": upload_id,
        "file_id": ctx.file.file_id,
        "profile": result.profile,
        "preview": _bounded_preview(result.profile, result.preview),
    }
    answer = await ctx.deliver("analysis", "dataset.profiled", payload)
    table = result.profile["table"]
    return {
        "upload_id": upload_id,
        "status": answer.get("status", "completed"),
        "rows": table["rows"],
        "columns": table["columns"],
        "issues": len(result.profile["quality"]),
        "alerts": len(result.profile["alerts"]),
        "seconds": {k: round(v, 3) for k, v in result.timings.items() if not k.endswith("_cpu")},
    }
