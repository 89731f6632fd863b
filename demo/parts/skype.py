"""A Skype export (``samples.skype``): uploaded once, parsed and analysed; the analysis
JSON and the self-contained HTML report."""

from __future__ import annotations

from typing import Any

from demo.client import UPLOAD_TIMEOUT
from demo.context import DemoContext
from demo.sample_files import SampleFiles
from demo.summary import Look, Section, Skipped

NEEDS = ("POST /api/upload", "GET /api/exports", "GET /api/analysis/{export_id}")


async def _existing(ctx: DemoContext, name: str) -> dict[str, Any] | None:
    """The demo's export of an earlier run: a completed one first, else one processing."""
    exports = await ctx.platform.get_json("/api/exports")
    ours = [e for e in exports if e.get("filename") == name]
    for status in ("completed", "processing"):
        for export in ours:
            if export.get("status") == status:
                return dict(export)
    return None


async def _finished(ctx: DemoContext, task_id: str) -> int:
    async def poll() -> int | None:
        status = await ctx.platform.get_json(f"/api/status/{task_id}")
        if status.get("status") == "failed":
            raise RuntimeError(f"the Skype export failed: {status.get('error')}")
        export_id = status.get("export_id")
        return int(export_id) if status.get("status") == "completed" and export_id else None

    return await ctx.wait_for("the Skype export's processing", poll)


async def _upload(ctx: DemoContext) -> int:
    sample = await ctx.files.get(SampleFiles.SKYPE)
    with sample.path.open("rb") as body:
        response = await ctx.platform.request(
            "POST",
            "/api/upload",
            files={"file": (sample.name, body, "application/x-tar")},
            data={"user_display_name": "Quarry demo"},
            timeout=UPLOAD_TIMEOUT,
        )
    answer = response.json()
    if answer.get("export_id") is not None:
        return int(answer["export_id"])
    return await _finished(ctx, str(answer["task_id"]))


async def feed(ctx: DemoContext) -> Section | Skipped:
    what = "Skype export"
    if missing := ctx.offers.missing(*NEEDS):
        return Skipped(what, f"the platform does not serve {', '.join(missing)}")
    platform = ctx.platform
    existing = await _existing(ctx, SampleFiles.SKYPE)
    if existing is None:
        export_id = await _upload(ctx)
        verb = "uploaded and analysed"
    elif existing["status"] == "completed":
        export_id, verb = int(existing["export_id"]), "already there"
    else:
        export_id = await _finished(ctx, str(existing["task_id"]))
        verb = "analysed"
    analysis = await platform.get_json(f"/api/analysis/{export_id}")
    messages, conversations = analysis["message_count"], analysis["conversation_count"]
    ctx.progress.info(
        f"Skype export {SampleFiles.SKYPE} {verb}: {messages:,} messages in "
        f"{conversations} conversations (export {export_id})"
    )
    report = "quarry-demo-skype-report.html"
    return Section(
        f'Skype export "{SampleFiles.SKYPE}": {messages:,} messages, '
        f"{conversations} conversations (export {export_id})",
        [
            Look("the analysis (JSON)", platform.curl(f"/api/analysis/{export_id}")),
            Look(
                f"the HTML report, saved as {report}: open it in a browser",
                platform.curl(f"/api/report/{export_id}", output=report),
            ),
        ],
    )
