"""Document benchmark: conversions per minute for docx->pdf and pdf->txt on 20
real-sized documents (about ten pages each, samples.documents), each beside a baseline
measured in the same run.

- ``docx_pdf_per_min``: the worker's way (a LibreOffice process per document, with a
  private profile, memory limit and no network, two at a time), next to
  ``docx_pdf_batch_per_min``: one bare LibreOffice converting all the files in one
  process (no isolation at all: the floor the isolation is paid against).
- ``pdf_txt_per_min``: the worker's way (a child forked from the warm sandbox per
  document, text grouped into paragraphs), two at a time, next to
  ``pdf_txt_inprocess_per_min``: PDFium's plain text in this process, one at a time.

Through the platform (``--platform``, on by default; a real gateway, ingest, worker,
PostgreSQL, Redis, S3 and SQS started for the run, as in the tests):

- ``platform_docx_pdf_per_min``: ``POST /files/convert`` docx->pdf, each answered once
  the worker's webhook is in (the synchronous wait), one at a time;
- ``tonality_uncached_ms``: the median round trip of ``POST /files/tonality-analysis``
  on a document never analysed (queue, worker, webhooks, the wait), beside
  ``tonality_compute_ms``, the same analysis worker-side alone; ``tonality_cached_ms``:
  the same request again, answered from the cache.

Run: ``python -m bench.documents [--count N] [--no-platform]``. On a shared machine
absolute figures move with the load; the ratio to the baseline of the same run is the
comparable one. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pypdfium2

from samples import documents as samples
from services.ingest.worker.documents.kinds import DocumentKind
from services.ingest.worker.documents.office import find_soffice
from services.ingest.worker.documents.processor import DocumentProcessor
from services.ingest.worker.documents.settings import DocumentSettings


def per_minute(count: int, seconds: float) -> float:
    return round(count * 60.0 / seconds, 1) if seconds > 0 else 0.0


async def worker_conversions(
    processor: DocumentProcessor, files: list[Path], source: DocumentKind, target: DocumentKind
) -> float:
    """Seconds for the worker's processor to convert every file, as many at once as
    the worker allows (its semaphores bound them)."""

    async def one(path: Path) -> None:
        async with processor.workspace() as workdir:
            await processor.convert(path, source, target, workdir)

    started = time.perf_counter()
    await asyncio.gather(*(one(path) for path in files))
    return time.perf_counter() - started


def batch_libreoffice(soffice: str, files: list[Path], scratch: Path) -> float:
    profile = scratch / "batch-profile"
    started = time.perf_counter()
    subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(scratch / "batch-out"),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return time.perf_counter() - started


def inprocess_pdf_text(files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        document = pypdfium2.PdfDocument(path)
        "".join(page.get_textpage().get_text_range() for page in document)
        document.close()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2], 1)


async def through_platform(count: int, tonality_samples: int, scratch: Path) -> dict[str, Any]:
    import secrets

    import httpx

    from deploy.backing import start_backing
    from deploy.platform import start_platform

    env = {
        "QUARRY_ENV": "test",
        "GATEWAY_RATE_LIMIT_ENABLED": "false",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        "INGEST_FILES_WAIT_SECONDS": "280",
    }
    figures: dict[str, Any] = {}
    with (
        start_backing(scratch / "backing", persistent=False) as backing,
        start_platform(scratch / "platform", backing, extra_env=env) as platform,
    ):
        async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=300) as gw:
            name = f"bench{secrets.token_hex(4)}"
            password = "Bench_Pass_123!"
            await gw.post(
                "/auth/registration",
                json={
                    "username": name,
                    "email": f"{name}@example.com",
                    "password": password,
                    "password1": password,
                },
            )
            login = await gw.post("/auth/login", json={"username": name, "password": password})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            gw.cookies.clear()

            async def upload(name: str, data: bytes) -> dict[str, Any]:
                answer = await gw.post(
                    "/files/upload", files={"file": (name, data)}, headers=headers
                )
                answer.raise_for_status()
                body: dict[str, Any] = answer.json()
                return body

            async def timed(path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
                started = time.perf_counter()
                answer = await gw.post(path, json=body, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                result: dict[str, Any] = answer.json()
                if result.get("status") != "success":
                    raise RuntimeError(f"{path}: {result}")
                return elapsed, result

            # Warm the worker (its sandbox starts with it) before timing anything.
            warm = await upload("warm.md", samples.sample("md", 999, sections=1).data)
            await timed("/files/tonality-analysis", {"s3_key": warm["s3_key"]})
            if find_soffice() is not None:
                stored = [
                    await upload(d.name, d.data) for d in samples.corpus("docx", count, seed=200)
                ]
                started = time.perf_counter()
                for file in stored:
                    request = {"s3_key": file["s3_key"], "format_from": "docx", "format_to": "pdf"}
                    await timed("/files/convert", request)
                seconds = time.perf_counter() - started
                figures["platform_docx_pdf_per_min"] = per_minute(count, seconds)
            uncached, cached, compute = [], [], []
            processor = DocumentProcessor(DocumentSettings(work_dir=scratch / "jobs"))
            await processor.start()
            try:
                for document in samples.corpus("txt", tonality_samples, seed=300):
                    file = await upload(document.name, document.data)
                    elapsed, _ = await timed("/files/tonality-analysis", {"s3_key": file["s3_key"]})
                    uncached.append(elapsed)
                    elapsed, again = await timed(
                        "/files/tonality-analysis", {"s3_key": file["s3_key"]}
                    )
                    assert again["cached"] is True
                    cached.append(elapsed)
                    local = scratch / document.name
                    local.write_bytes(document.data)
                    started = time.perf_counter()
                    await processor.tonality(local, DocumentKind.TXT)
                    compute.append((time.perf_counter() - started) * 1000)
            finally:
                await processor.close()
            figures["tonality_uncached_ms"] = median(uncached)
            figures["tonality_cached_ms"] = median(cached)
            figures["tonality_compute_ms"] = median(compute)
            figures["tonality_samples"] = tonality_samples
    return figures


async def run(count: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="quarry-bench-documents-"))
    try:
        docx = []
        pdfs = []
        for document in samples.corpus("docx", count):
            docx.append(scratch / document.name)
            docx[-1].write_bytes(document.data)
        for document in samples.corpus("pdf", count, seed=100):
            pdfs.append(scratch / document.name)
            pdfs[-1].write_bytes(document.data)
        pages = sum(len(pypdfium2.PdfDocument(p)) for p in pdfs) / len(pdfs)
        print(f"{count} docx and {count} pdf documents, {pages:.1f} pages each on average")
        processor = DocumentProcessor(DocumentSettings(work_dir=scratch / "jobs"))
        await processor.start()
        figures: dict[str, Any] = {"documents": count, "pdf_pages_avg": round(pages, 1)}
        try:
            seconds = await worker_conversions(processor, pdfs, DocumentKind.PDF, DocumentKind.TXT)
            figures["pdf_txt_per_min"] = per_minute(count, seconds)
            figures["pdf_txt_inprocess_per_min"] = per_minute(count, inprocess_pdf_text(pdfs))
            soffice = find_soffice()
            if soffice is None:
                print("LibreOffice is not installed: docx->pdf not measured", file=sys.stderr)
                figures["docx_pdf_per_min"] = None
                figures["docx_pdf_batch_per_min"] = None
            else:
                seconds = await worker_conversions(
                    processor, docx, DocumentKind.DOCX, DocumentKind.PDF
                )
                figures["docx_pdf_per_min"] = per_minute(count, seconds)
                batch = batch_libreoffice(soffice, docx, scratch)
                figures["docx_pdf_batch_per_min"] = per_minute(count, batch)
        finally:
            await processor.close()
        figures["office_concurrency"] = processor.settings.office_concurrency
        figures["sandbox_concurrency"] = processor.settings.max_concurrency
        figures["cpus"] = os.cpu_count()
        figures["load_average_1m"] = round(os.getloadavg()[0], 2)
        return figures
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents")
    parser.add_argument("--count", type=int, default=20, help="documents of each kind")
    parser.add_argument("--tonality-samples", type=int, default=10)
    parser.add_argument(
        "--no-platform", action="store_true", help="only the worker-side conversions"
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.count))
    if not args.no_platform:
        scratch = Path(tempfile.mkdtemp(prefix="quarry-bench-documents-platform-"))
        try:
            figures.update(
                asyncio.run(through_platform(args.count, args.tonality_samples, scratch))
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"platform docx_pdf: {figures.get('platform_docx_pdf_per_min')} per minute; "
            f"tonality round trip: {figures['tonality_uncached_ms']} ms uncached "
            f"(worker alone {figures['tonality_compute_ms']} ms), "
            f"{figures['tonality_cached_ms']} ms cached"
        )
    for name in ("docx_pdf", "pdf_txt"):
        print(f"{name}: {figures.get(name + '_per_min')} per minute")
    figures.setdefault("tonality_cached_ms", None)  # None: --no-platform
    figures.setdefault("tonality_uncached_ms", None)
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
