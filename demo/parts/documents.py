"""Documents (``samples.documents``): a docx, a PDF and a text file stored, the docx
converted to PDF (LibreOffice), the text's tonality and the PDF's keyword sentences.
The Files routes cache their results, so a second run asks again and gets the same
answers at once (``cached: true``) without new work."""

from __future__ import annotations

import asyncio
from typing import Any

from demo.client import UPLOAD_TIMEOUT, PlatformError
from demo.context import DemoContext
from demo.sample_files import SampleFiles
from demo.summary import Look, Section, Skipped

NEEDS = (
    "POST /files/upload",
    "GET /files/storage",
    "GET /files/download/{file_id}",
    "POST /files/convert",
)
CONTENT_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "txt": "text/plain",
}
KEYWORD = "budget"
WAIT = {"Prefer": "wait=30"}
# Reads file_url out of GET /files/download/{id}'s answer, in a shell pipeline.
FILE_URL = """python3 -c 'import json,sys; print(json.load(sys.stdin)["file_url"])'"""


async def _stored(
    ctx: DemoContext, names: tuple[str, ...]
) -> tuple[dict[str, dict[str, Any]], int]:
    """Each sample's stored file (found in the history by content hash, else uploaded)
    and how many were uploaded now."""
    history = await ctx.platform.get_json("/files/storage", params={"limit": 200})
    by_hash = {f["sha256"]: f for f in history if f.get("source_file_id") is None}
    stored = {}
    uploaded = 0
    for name in names:
        sample = await ctx.files.get(name)
        found = by_hash.get(sample.sha256())
        if found is None:
            uploaded += 1
            kind = name.rsplit(".", 1)[-1]
            with sample.path.open("rb") as body:
                response = await ctx.platform.request(
                    "POST",
                    "/files/upload",
                    files={"file": (name, body, CONTENT_TYPES[kind])},
                    timeout=UPLOAD_TIMEOUT,
                )
            found = response.json()
        stored[name] = found
    return stored, uploaded


async def _processed(ctx: DemoContext, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Files processing route's answer once final: it waits for the worker itself;
    past its wait (202 ``pending``) the job is followed, then the route asked again
    (the result is cached by then)."""
    answer: dict[str, Any] = await ctx.platform.post_json(
        path, body, headers=WAIT, timeout=UPLOAD_TIMEOUT, expect=(200, 201, 202)
    )
    if answer.get("status") != "pending":
        return answer
    job_url = str(answer["job_url"])

    async def poll() -> bool | None:
        job = await ctx.platform.get_json(job_url, headers=WAIT, timeout=UPLOAD_TIMEOUT)
        return True if job.get("status") in ("completed", "failed") else None

    await ctx.wait_for(f"{path} of {body['s3_key']}", poll)
    return dict(await ctx.platform.post_json(path, body, timeout=UPLOAD_TIMEOUT))


def _failed(answer: dict[str, Any]) -> str | None:
    return str(answer.get("message") or "failed") if answer.get("status") == "failed" else None


async def _converted(ctx: DemoContext, docx: dict[str, Any], skipped: list[Skipped]) -> list[Look]:
    platform = ctx.platform
    body = {"s3_key": SampleFiles.DOCX, "format_from": "docx", "format_to": "pdf"}
    try:
        answer = await _processed(ctx, "/files/convert", body)
    except PlatformError as exc:  # e.g. LibreOffice is not installed: the route says so
        skipped.append(Skipped("docx -> PDF conversion", exc.reason))
        return []
    if reason := _failed(answer):
        skipped.append(Skipped("docx -> PDF conversion", reason))
        return []
    file_id = answer.get("file_id")
    if file_id is None:  # an older platform: the new file is in the history
        history = await platform.get_json("/files/storage", params={"kind": "pdf"})
        file_id = next(f["id"] for f in history if f.get("source_file_id") == docx["id"])
    link = await platform.get_json(f"/files/download/{file_id}")
    minutes = round(int(link.get("expires_in") or 0) / 60)
    ctx.progress.info(
        f"{SampleFiles.DOCX} converted to PDF (file {file_id}"
        f"{', cached' if answer.get('cached') else ''})"
    )
    saved = "quarry-demo-report.pdf"
    fetch_link = platform.curl(f"/files/download/{file_id}")
    return [
        Look(
            f"the converted PDF: a download link (file_url, valid {minutes} minutes; "
            "it opens in a browser)",
            fetch_link,
        ),
        Look(
            f"the converted PDF, saved as {saved}",
            f'curl -sS -o {saved} "$({fetch_link} | {FILE_URL})"',
        ),
    ]


async def _analysis(
    ctx: DemoContext, path: str, body: dict[str, Any], what: str, skipped: list[Skipped]
) -> Look | None:
    if not ctx.offers.serves("POST", path):
        skipped.append(Skipped(what, f"the platform does not serve POST {path}"))
        return None
    try:
        answer = await _processed(ctx, path, body)
    except PlatformError as exc:
        skipped.append(Skipped(what, exc.reason))
        return None
    if reason := _failed(answer):
        skipped.append(Skipped(what, reason))
        return None
    if path.endswith("tonality-analysis"):
        detail = f"polarity {answer.get('polarity_status')}"
    else:
        detail = f"{answer.get('count')} sentences"
    ctx.progress.info(f"{what}: {detail}")
    return Look(f"{what} ({detail})", ctx.platform.curl(path, body=body))


async def feed(ctx: DemoContext, skipped: list[Skipped]) -> Section | Skipped:
    what = "Documents"
    if missing := ctx.offers.missing(*NEEDS):
        return Skipped(what, f"the platform does not serve {', '.join(missing)}")
    names = (SampleFiles.DOCX, SampleFiles.PDF, SampleFiles.TXT)
    stored, uploaded = await _stored(ctx, names)
    ids = ", ".join(f"{name} (file {stored[name]['id']})" for name in names)
    if uploaded == len(names):
        ctx.progress.info(f"documents uploaded: {ids}")
    elif uploaded:
        ctx.progress.info(f"documents uploaded or found by content: {ids}")
    else:
        ctx.progress.info(f"documents already there (found by content): {ids}")
    # s3_key takes the stored key or the original name: the name reads better.
    txt, pdf = SampleFiles.TXT, SampleFiles.PDF
    converted, *analysed = await asyncio.gather(
        _converted(ctx, stored[SampleFiles.DOCX], skipped),
        _analysis(
            ctx,
            "/files/tonality-analysis",
            {"s3_key": txt},
            f"the tonality of {SampleFiles.TXT}",
            skipped,
        ),
        _analysis(
            ctx,
            "/files/parse-file",
            {"s3_key": pdf, "keywords": [KEYWORD]},
            f'the sentences of {SampleFiles.PDF} that say "{KEYWORD}"',
            skipped,
        ),
    )
    looks = [Look("the stored files", ctx.platform.curl("/files/storage")), *converted]
    looks += [look for look in analysed if isinstance(look, Look)]
    return Section(f"Documents: {ids}", looks)
