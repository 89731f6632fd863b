"""The bounds one document is processed within, handed to the sandboxed child."""

from __future__ import annotations

from dataclasses import dataclass

from services.ingest.worker.documents.archives import ArchiveLimits
from services.ingest.worker.documents.settings import DocumentSettings

MB = 1024 * 1024


@dataclass(frozen=True)
class DocumentLimits:
    archive: ArchiveLimits
    max_text_chars: int
    max_pdf_pages: int
    max_output_bytes: int
    memory_bytes: int
    top_keywords: int

    @classmethod
    def from_settings(cls, settings: DocumentSettings) -> DocumentLimits:
        return cls(
            archive=ArchiveLimits(
                max_uncompressed_bytes=settings.max_uncompressed_mb * MB,
                max_compression_ratio=settings.max_compression_ratio,
                max_members=settings.max_archive_members,
            ),
            max_text_chars=settings.max_text_chars,
            max_pdf_pages=settings.max_pdf_pages,
            max_output_bytes=settings.max_output_mb * MB,
            memory_bytes=settings.memory_limit_mb * MB,
            top_keywords=settings.top_keywords,
        )
