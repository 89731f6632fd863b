"""A dataset as CSV and as XLSX (``samples.datasets``' mixed table, with its planted
problems): each profiled by the worker; the profile (JSON), its HTML report and a
preview of the rows."""

from __future__ import annotations

import asyncio
from typing import Any

from demo.client import UPLOAD_TIMEOUT
from demo.context import DemoContext
from demo.sample_files import SampleFiles
from demo.summary import Look, Section, Skipped

NEEDS = ("POST /api/upload/", "GET /api/upload/", "GET /api/upload/{upload_id}/")
CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def _existing(ctx: DemoContext, name: str) -> dict[str, Any] | None:
    """An upload of ``name`` from an earlier run that is (or will be) profiled; failed
    ones are deleted, so the demo keeps one upload per file."""
    found = None
    for upload in await ctx.platform.get_json("/api/upload/"):
        if upload.get("original_filename") != name:
            continue
        if upload.get("status") == "failed":
            await ctx.platform.request("DELETE", f"/api/upload/{upload['id']}/")
        elif found is None or upload.get("status") == "completed":
            found = dict(upload)
    return found


async def _upload(ctx: DemoContext, name: str) -> str:
    sample = await ctx.files.get(name)
    kind = name.rsplit(".", 1)[-1]
    with sample.path.open("rb") as body:
        response = await ctx.platform.request(
            "POST",
            "/api/upload/",
            files={"file": (sample.name, body, CONTENT_TYPES[kind])},
            timeout=UPLOAD_TIMEOUT,
        )
    return str(response.json()["id"])


async def _profiled(ctx: DemoContext, upload_id: str, name: str) -> dict[str, Any]:
    async def poll() -> dict[str, Any] | None:
        detail = await ctx.platform.get_json(f"/api/upload/{upload_id}/")
        if detail.get("status") == "failed":
            raise RuntimeError(f"the profile of {name} failed: {detail.get('error')}")
        return dict(detail) if detail.get("status") == "completed" else None

    return await ctx.wait_for(f"the profile of {name}", poll)


async def _one(ctx: DemoContext, name: str) -> tuple[str, dict[str, Any], bool]:
    existing = await _existing(ctx, name)
    upload_id = str(existing["id"]) if existing else await _upload(ctx, name)
    detail = await _profiled(ctx, upload_id, name)
    return upload_id, detail, existing is None


async def feed(ctx: DemoContext) -> Section | Skipped:
    what = "Dataset (CSV and XLSX)"
    if missing := ctx.offers.missing(*NEEDS):
        return Skipped(what, f"the platform does not serve {', '.join(missing)}")
    platform = ctx.platform
    names = (SampleFiles.CSV, SampleFiles.XLSX)
    results = await asyncio.gather(*(_one(ctx, name) for name in names))
    looks, facts = [], []
    for name, (upload_id, detail, uploaded) in zip(names, results, strict=True):
        kind = name.rsplit(".", 1)[-1]
        table = (detail.get("profile") or {}).get("table", {})
        alerts = len((detail.get("profile") or {}).get("alerts", []))
        fact = f"{kind.upper()} {table.get('rows', 0):,} rows x {table.get('columns', 0)} columns"
        facts.append(f"{fact}, {alerts} alerts")
        ctx.progress.info(
            f"dataset {name} {'uploaded and profiled' if uploaded else 'already there'}: "
            f"{fact}, {alerts} alerts (upload {upload_id})"
        )
        report = f"quarry-demo-dataset-{kind}-report.html"
        looks += [
            Look(f"the {kind.upper()} profile (JSON)", platform.curl(f"/api/upload/{upload_id}/")),
            Look(
                f"its HTML report, saved as {report}: open it in a browser",
                platform.curl(f"/api/upload/{upload_id}/report", output=report),
            ),
        ]
        if kind == "csv":
            looks.append(
                Look(
                    "its first 5 rows",
                    platform.curl(f"/api/upload/{upload_id}/preview", query={"rows": 5}),
                )
            )
    return Section(
        f'Datasets "{SampleFiles.CSV}" and "{SampleFiles.XLSX}": {"; ".join(facts)}', looks
    )
