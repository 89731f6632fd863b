from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from shared.settings import service_config


class DocumentSettings(BaseSettings):
    """Limits and tools of document processing in the worker (env prefix
    ``INGEST_DOCUMENTS_``)."""

    model_config = service_config("INGEST_DOCUMENTS_")

    # Wall-clock bound of one conversion or analysis; past it the process tree is killed.
    timeout_seconds: float = Field(120.0, gt=0, le=3600)
    # Documents processed at once by one worker (forked children), and LibreOffice
    # processes at once (each takes a core and ~150 MB).
    max_concurrency: int = Field(2, ge=1, le=64)
    office_concurrency: int = Field(2, ge=1, le=64)
    # Address space of each child (and of LibreOffice); polars needs about 2 GiB.
    memory_limit_mb: int = Field(3072, ge=256)
    # The largest file a conversion may write.
    max_output_mb: int = Field(1024, ge=1)
    # Zip containers (docx, xlsx, odt): what they may inflate to, and how much better
    # than this ratio no honest member compresses.
    max_uncompressed_mb: int = Field(512, ge=1)
    max_compression_ratio: int = Field(200, ge=10)
    max_archive_members: int = Field(20_000, ge=10)
    # Text kept from one document for parsing and tonality, and pages read from a PDF.
    max_text_chars: int = Field(5_000_000, ge=1000)
    max_pdf_pages: int = Field(5_000, ge=1)
    top_keywords: int = Field(10, ge=1, le=100)
    # Where the per-job directories go (default: the system's temporary directory).
    work_dir: Path | None = None
    # LibreOffice's soffice; None = found on PATH or in /usr/lib/libreoffice/program.
    libreoffice_binary: str | None = None
    # Run converters in a network namespace of their own (no network at all) when the
    # host allows it (root, or unprivileged user namespaces): a document's links to
    # http:// or file:// resources then lead nowhere.
    isolate_network: bool = True
