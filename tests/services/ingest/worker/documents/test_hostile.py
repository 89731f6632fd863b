"""Hostile documents fail their job with a reason within the timeout; the worker (the
processor and its fork server) lives on; nothing of the job stays on disk; converters
fetch nothing from the network or the file system."""

from __future__ import annotations

import asyncio
import http.server
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from samples import documents as samples
from services.ingest.worker.documents.errors import DocumentRejected
from services.ingest.worker.documents.kinds import DocumentKind
from services.ingest.worker.documents.processor import DocumentProcessor
from services.ingest.worker.documents.settings import DocumentSettings
from tests.services.ingest.worker.documents.conftest import pdf_text

K = DocumentKind
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def hostile_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-jobs")


@pytest.fixture(scope="module")
async def guarded(hostile_work_dir: Path) -> AsyncIterator[DocumentProcessor]:
    """Small limits, so the bombs are cheap to build and the timeouts short."""
    settings = DocumentSettings(
        work_dir=hostile_work_dir,
        timeout_seconds=TIMEOUT,
        max_uncompressed_mb=64,
        memory_limit_mb=1536,
    )
    started = DocumentProcessor(settings)
    await started.start()
    yield started
    await started.close()


@pytest.fixture
def clean(hostile_work_dir: Path) -> Iterator[None]:
    yield
    assert list(hostile_work_dir.iterdir()) == [], "a job directory was left behind"


async def reject(
    processor: DocumentProcessor, data: bytes, source: DocumentKind, target: DocumentKind, tmp: Path
) -> tuple[str, float]:
    path = tmp / f"hostile.{source}"
    path.write_bytes(data)
    started = time.monotonic()
    async with processor.workspace() as workdir:
        with pytest.raises(DocumentRejected) as raised:
            await processor.convert(path, source, target, workdir)
    return raised.value.reason, time.monotonic() - started


async def text_or_reason(processor: DocumentProcessor, path: Path, kind: DocumentKind) -> str:
    """The text a conversion to txt gives, or ``rejected: <reason>``."""
    async with processor.workspace() as workdir:
        try:
            converted = await processor.convert(path, kind, K.TXT, workdir)
        except DocumentRejected as exc:
            return f"rejected: {exc.reason}"
        return converted.path.read_text()


async def still_works(processor: DocumentProcessor, tmp: Path) -> None:
    """The worker lives on: a normal document converts right after."""
    document = samples.sample("md", 5, sections=1, paragraphs=2)
    path = tmp / "after.md"
    path.write_bytes(document.data)
    async with processor.workspace() as workdir:
        converted = await processor.convert(path, K.MD, K.TXT, workdir)
        assert document.text.marker in converted.path.read_text()


async def test_a_docx_zip_bomb_is_refused_before_anything_inflates_it(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    bomb = samples.zip_bomb_docx(inflated_mb=200)
    assert len(bomb) < 2_000_000
    for target in (K.PDF, K.TXT):
        reason, elapsed = await reject(guarded, bomb, K.DOCX, target, tmp_path)
        assert "zip bomb" in reason
        assert elapsed < TIMEOUT
    (tmp_path / "b.docx").write_bytes(bomb)
    with pytest.raises(DocumentRejected, match="zip bomb"):
        await guarded.parse(tmp_path / "b.docx", K.DOCX, ["x"])
    await still_works(guarded, tmp_path)


async def test_a_zip_bomb_whose_headers_lie_is_refused(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    reason, elapsed = await reject(
        guarded, samples.lying_zip_bomb_docx(inflated_mb=100), K.DOCX, K.PDF, tmp_path
    )
    assert "corrupt" in reason or "zip bomb" in reason
    assert elapsed < TIMEOUT
    await still_works(guarded, tmp_path)


async def test_an_xlsx_zip_bomb_is_refused(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    reason, _ = await reject(
        guarded, samples.zip_bomb_xlsx(inflated_mb=200), K.XLSX, K.CSV, tmp_path
    )
    assert "zip bomb" in reason
    await still_works(guarded, tmp_path)


async def test_xml_entity_expansion_is_refused(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    bomb = samples.entity_expansion_docx()
    for target in (K.PDF, K.TXT):
        reason, _ = await reject(guarded, bomb, K.DOCX, target, tmp_path)
        assert "declares an XML document type" in reason
    await still_works(guarded, tmp_path)


async def test_an_encrypted_pdf_is_refused_with_the_reason(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    reason, _ = await reject(guarded, samples.encrypted_pdf(), K.PDF, K.TXT, tmp_path)
    assert reason == "the PDF is encrypted (password-protected)"
    path = tmp_path / "e.pdf"
    path.write_bytes(samples.encrypted_pdf())
    with pytest.raises(DocumentRejected, match="encrypted"):
        await guarded.tonality(path, K.PDF)


async def test_a_pdf_with_a_looping_page_tree_ends_within_the_timeout(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    """PDFium breaks the page-tree and xref loops itself: the job ends (here with the
    one real page's text) long before the timeout, and nothing spins."""
    path = tmp_path / "loop.pdf"
    path.write_bytes(samples.looping_pdf())
    started = time.monotonic()
    outcome = await text_or_reason(guarded, path, K.PDF)
    assert "A page inside a loop" in outcome or outcome.startswith("rejected: the PDF")
    assert time.monotonic() - started < TIMEOUT
    await still_works(guarded, tmp_path)


async def test_a_pdf_whose_stream_inflates_without_end_is_stopped(
    guarded: DocumentProcessor, tmp_path: Path, clean: None
) -> None:
    reason, elapsed = await reject(
        guarded, samples.flate_bomb_pdf(inflated_mb=768), K.PDF, K.TXT, tmp_path
    )
    assert any(
        words in reason for words in ("did not finish within", "more memory", "crash", "CPU time")
    ), reason
    assert elapsed < TIMEOUT + 10
    await still_works(guarded, tmp_path)


@pytest.mark.parametrize("kind", [K.DOCX, K.PDF, K.ODT])
async def test_truncated_documents_fail_cleanly(
    guarded: DocumentProcessor, tmp_path: Path, kind: DocumentKind, clean: None
) -> None:
    data = samples.truncated(samples.sample(str(kind), 2).data, keep=0.4)
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data)
    outcome = await text_or_reason(guarded, path, kind)
    if kind is K.PDF:  # PDFium rebuilds a cut PDF's cross-references: its first pages survive
        assert "Quarry sample report 2" in outcome or outcome.startswith("rejected: the PDF")
    else:
        assert outcome == "rejected: the file is not a valid zip container"
    await still_works(guarded, tmp_path)


async def test_an_endless_job_is_killed_at_the_timeout(tmp_path: Path) -> None:
    settings = DocumentSettings(work_dir=tmp_path / "jobs", timeout_seconds=2.0)
    processor = DocumentProcessor(settings)
    await processor.start()
    try:
        big = tmp_path / "big.txt"
        with big.open("w") as handle:
            sentence = "The budget review covers the cost of storage in three regions. "
            for _ in range(60_000):
                handle.write(sentence * 10 + "\n\n")
        started = time.monotonic()
        with pytest.raises(DocumentRejected, match="did not finish within 2 s"):
            await processor.parse(big, K.TXT, ["budget"])
        assert time.monotonic() - started < 10
        zygote = psutil.Process(processor.sandbox.zygote_pid)
        assert zygote.is_running()
        assert [c for c in zygote.children() if c.status() != psutil.STATUS_ZOMBIE] == []
        await still_works(processor, tmp_path)
    finally:
        await processor.close()
    assert list((tmp_path / "jobs").iterdir()) == []


# -- LibreOffice ------------------------------------------------------------------------


def office_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


async def test_a_libreoffice_that_hangs_is_killed_with_its_process_tree(
    libreoffice: str, tmp_path: Path
) -> None:
    """LibreOffice gets less time than it needs to start: the conversion fails with a
    reason at the timeout, no soffice process of it remains, its profile is gone."""
    jobs = tmp_path / "jobs"
    processor = DocumentProcessor(DocumentSettings(work_dir=jobs, timeout_seconds=1.0))
    await processor.start()
    try:
        document = tmp_path / "slow.docx"
        document.write_bytes(samples.sample("docx", 4).data)
        async with processor.workspace() as workdir:
            with pytest.raises(DocumentRejected, match="LibreOffice did not finish"):
                await processor.convert(document, K.DOCX, K.PDF, workdir)
            assert office_processes(str(workdir)) == []
        await still_works(processor, tmp_path)
    finally:
        await processor.close()
    assert list(jobs.iterdir()) == []


async def test_the_whole_tree_of_a_hanging_converter_is_killed(tmp_path: Path) -> None:
    """A stand-in soffice that forks a child, a grandchild in a session of its own, and
    hangs: all three are gone after the timeout."""
    pids = tmp_path / "pids"
    fake = tmp_path / "soffice"
    fake.write_text(
        "#!/bin/sh\n"
        f"sleep 300 & echo $! >> {pids}\n"
        f"setsid sleep 300 & echo $! >> {pids}\n"
        f"echo $$ >> {pids}\n"
        "sleep 300\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    settings = DocumentSettings(
        work_dir=tmp_path / "jobs", timeout_seconds=1.5, libreoffice_binary=str(fake)
    )
    processor = DocumentProcessor(settings)
    await processor.start()
    try:
        document = tmp_path / "x.docx"
        document.write_bytes(samples.sample("docx", 1, sections=1, paragraphs=1).data)
        pids.write_text("")  # start() asked the stand-in for its version: forget those
        async with processor.workspace() as workdir:
            with pytest.raises(DocumentRejected, match="did not finish"):
                await processor.office.convert(document, K.DOCX, K.PDF, workdir, timeout=1.5)
        started = [int(line) for line in pids.read_text().split()]
        assert len(started) == 3
        await asyncio.sleep(0.2)
        alive = [
            pid
            for pid in started
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
        assert alive == []
    finally:
        await processor.close()


# -- nothing is fetched -------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_html_to_pdf_fetches_no_url_and_reads_no_local_file(
    processor: DocumentProcessor, tmp_path: Path, listener: str
) -> None:
    secret = tmp_path / "secret.svg"
    secret.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">'
        '<text x="0" y="20">TOPSECRETFILE</text></svg>'
    )
    inline = (
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='200' height='40'%3E"
        "%3Ctext x='0' y='20'%3EINLINEPICTURE%3C/text%3E%3C/svg%3E"
    )
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head>"
        f'<link rel="stylesheet" href="{listener}/style.css"></head><body>'
        f'<p>Visible text.</p><img src="{listener}/tracker.png">'
        f'<img src="file://{secret}"><img src="{inline}">'
        "</body></html>"
    )
    async with processor.workspace() as workdir:
        converted = await processor.convert(page, K.HTML, K.PDF, workdir)
        text = pdf_text(converted.path)
    assert "Visible text." in text
    assert "INLINEPICTURE" in text  # data: URIs still render
    assert "TOPSECRETFILE" not in text
    assert _Recorder.requests == []


async def test_libreoffice_fetches_no_linked_image(
    libreoffice: str, processor: DocumentProcessor, tmp_path: Path, listener: str
) -> None:
    """Unisolated, LibreOffice fetches a docx's linked image while converting it (it
    does here); in its own network namespace the request goes nowhere."""
    if not processor.capabilities()["office_network_isolated"]:
        pytest.skip("this host allows no network namespace (unshare, as root or by user ns)")
    document = tmp_path / "linked.docx"
    document.write_bytes(samples.external_image_docx(f"{listener}/picture.png"))
    async with processor.workspace() as workdir:
        converted = await processor.convert(document, K.DOCX, K.PDF, workdir)
        assert "A document with a linked picture." in pdf_text(converted.path)
    assert _Recorder.requests == []


@pytest.mark.parametrize(
    "target", ["file:///etc/hostname", "/etc/hostname", "\\\\server\\share\\x.png"]
)
async def test_a_docx_linking_a_local_file_is_refused(
    guarded: DocumentProcessor, tmp_path: Path, target: str, clean: None
) -> None:
    reason, _ = await reject(guarded, samples.external_image_docx(target), K.DOCX, K.PDF, tmp_path)
    assert "links a file of the machine" in reason


async def test_sandbox_children_hold_none_of_the_workers_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork server (and so every child) gets a short allowlist of variables."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-only-secret")
    monkeypatch.setenv("QUARRY_WEBHOOK_SECRET", "worker-only-webhook-secret")
    processor = DocumentProcessor(DocumentSettings(work_dir=tmp_path))
    await processor.start()
    try:
        environ = Path(f"/proc/{processor.sandbox.zygote_pid}/environ").read_bytes()
    finally:
        await processor.close()
    assert b"PATH=" in environ
    assert b"worker-only" not in environ
