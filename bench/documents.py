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

Run: ``python -m bench.documents [--count N]``. On a shared machine absolute figures
move with the load; the ratio to the baseline of the same run is the comparable one.
The last line is one JSON object.
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
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.count))
    for name in ("docx_pdf", "pdf_txt"):
        print(f"{name}: {figures.get(name + '_per_min')} per minute")
    # Filled by the platform part of the benchmark (the synchronous wait of the Files
    # routes), absent until it runs.
    figures.setdefault("tonality_cached_ms", None)
    figures.setdefault("tonality_uncached_ms", None)
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
