"""The sample files the demo uploads, made by the project's generators (:mod:`samples`)
once and kept in the state directory: a second run sends the same bytes (the platform
then finds them by name or content hash and stores nothing twice), and skips the
generation."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SKYPE_MESSAGES = 3_000
CSV_ROWS = 5_000
XLSX_ROWS = 2_000
DOCUMENT_SECTIONS = 3  # about four pages each


@dataclass(frozen=True)
class SampleFile:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def _skype(path: Path) -> None:
    from samples.skype import write_export

    write_export(path, SKYPE_MESSAGES, seed=14, export_date="2024-05-05T20:55")


def _csv(path: Path) -> None:
    from samples.datasets import mixed_table, write_csv

    frame, _ = mixed_table(CSV_ROWS)
    write_csv(frame, path)


def _xlsx(path: Path) -> None:
    from samples.datasets import mixed_table, write_xlsx

    frame, _ = mixed_table(XLSX_ROWS)
    write_xlsx(frame, path)


def _document(kind: str, seed: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        from samples.documents import sample

        path.write_bytes(sample(kind, seed, sections=DOCUMENT_SECTIONS).data)

    return write


class SampleFiles:
    """Each file by its role; made on first use."""

    SKYPE = "quarry-demo-skype.tar"
    CSV = "quarry-demo-dataset.csv"
    XLSX = "quarry-demo-dataset.xlsx"
    DOCX = "quarry-demo-report.docx"
    PDF = "quarry-demo-brief.pdf"
    TXT = "quarry-demo-notes.txt"

    _WRITERS: dict[str, Callable[[Path], None]] = {
        SKYPE: _skype,
        CSV: _csv,
        XLSX: _xlsx,
        DOCX: _document("docx", 1),  # a positive text
        PDF: _document("pdf", 2),  # a neutral one
        TXT: _document("txt", 4),  # a negative one: the tonality shows it
    }

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, name: str) -> SampleFile:
        """The file ``name``, written by its generator (in a thread) if not there yet."""
        path = self.directory / name
        async with self._locks.setdefault(name, asyncio.Lock()):
            if not path.exists():
                await asyncio.to_thread(self._write, name, path)
        return SampleFile(path)

    def _write(self, name: str, path: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        self._WRITERS[name](partial)
        os.replace(partial, path)
