"""Fixtures for the document converters: one started DocumentProcessor per session (its
fork server takes seconds to warm), a work directory whose emptiness the tests check,
and readers that take a produced file apart independently of the converters."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pypdfium2
import pytest

from services.ingest.worker.documents.office import DEBIAN_PACKAGE, find_soffice
from services.ingest.worker.documents.processor import DocumentProcessor
from services.ingest.worker.documents.settings import DocumentSettings


@pytest.fixture(scope="session")
def document_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("document-jobs")


@pytest.fixture(scope="session")
async def processor(document_work_dir: Path) -> AsyncIterator[DocumentProcessor]:
    settings = DocumentSettings(work_dir=document_work_dir, timeout_seconds=90)
    started = DocumentProcessor(settings)
    await started.start()
    yield started
    await started.close()


@pytest.fixture
def libreoffice() -> str:
    """The soffice binary. ``make test`` installs LibreOffice (as root, with apt-get):
    without it these tests are skipped with the package to install."""
    binary = find_soffice()
    if binary is None:
        pytest.skip(
            f"LibreOffice is not installed: apt-get install {DEBIAN_PACKAGE} "
            "(make test does this when run as root)"
        )
    return binary


@pytest.fixture
def no_leftovers(document_work_dir: Path) -> AsyncIterator[None]:
    """The test leaves no job directory behind."""
    before = set(document_work_dir.iterdir())
    yield
    assert set(document_work_dir.iterdir()) == before


def normalised(text: str) -> str:
    """Whitespace collapsed, a line broken after a hyphen rejoined, ligatures undone."""
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\u00ad", "")
    text = re.sub(r"-\s+", "-", text)
    return re.sub(r"\s+", " ", text).strip()


def pdf_text(path: Path) -> str:
    """All the text of a PDF, read with PDFium's plain text API (not the worker's own
    paragraph logic)."""
    document = pypdfium2.PdfDocument(path)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
