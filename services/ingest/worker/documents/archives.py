"""The zip containers (docx, xlsx, odt) are checked before anything parses them:
no zip bomb, no XML document type declaration (the door to entity expansion), no
encrypted members, and no link that makes an office suite read a file of the machine
it runs on (a linked image or section ``file:///...``, an ``INCLUDETEXT`` field, DDE).

Every member is inflated once, in chunks, counting what it really inflates to (a
lying header is caught by zipfile's CRC check); the XML members are scanned on the
way. Honest OOXML and ODF never declare a DTD. (Links to the network need no check
here: converters run without network, see :mod:`.isolation`.)
"""

from __future__ import annotations

import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from services.ingest.worker.documents.errors import DocumentRejected

MB = 1024 * 1024
_CHUNK = 256 * 1024
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
# A target on this machine: file: URLs, absolute paths, Windows drives and UNC shares.
_LOCAL = rb"""(?:file:|/|\\\\|[A-Za-z]:[\\/])"""
_LOCAL_LINKS = re.compile(
    rb"""TargetMode\s*=\s*["']External["'][^>]*Target\s*=\s*["']"""
    + _LOCAL
    + rb"""|Target\s*=\s*["']"""
    + _LOCAL
    + rb"""[^"']*["'][^>]*TargetMode\s*=\s*["']External"""
    + rb"""|xlink:href\s*=\s*["']"""
    + _LOCAL
    + rb"|<text:section-source|<office:dde-source|<text:dde-connection"
    + rb"""|(?:<w:instrText[^>]*>|w:instr\s*=\s*["'])\s*"""
    + rb"(?:INCLUDETEXT|INCLUDEPICTURE|DDEAUTO|DDE)\b",
    re.I,
)
# An honest small member may compress very well (a run of spaces): the ratio rule
# applies only to members that inflate past this.
_RATIO_FLOOR_BYTES = 4 * MB


@dataclass(frozen=True)
class ArchiveLimits:
    max_uncompressed_bytes: int
    max_compression_ratio: int
    max_members: int


def inspect_archive(path: Path, limits: ArchiveLimits) -> list[str]:
    """The member names of a safe zip container; raises :class:`DocumentRejected`."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentRejected("the file is not a valid zip container") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise DocumentRejected(
                f"the archive has {len(infos)} members (at most {limits.max_members})"
            )
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_uncompressed_bytes:
            raise DocumentRejected(_too_big(declared, limits))
        for info in infos:
            _check_member_header(info, limits)
        inflated = 0
        for info in infos:
            inflated += _inflate(archive, info, limits, inflated)
        return [info.filename for info in infos]


def _too_big(size: int, limits: ArchiveLimits) -> str:
    return (
        f"the archive inflates to more than {limits.max_uncompressed_bytes // MB} MB "
        f"({size // MB} MB): a zip bomb or too big a document"
    )


def _check_member_header(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    if info.flag_bits & 0x1:
        raise DocumentRejected("the document is encrypted (password-protected)")
    if info.file_size > _RATIO_FLOOR_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise DocumentRejected(
                f"member {info.filename[:80]!r} compresses {ratio:.0f}:1 "
                f"(at most {limits.max_compression_ratio}:1): a zip bomb"
            )


def _scan(name: str, xml: bytes) -> None:
    if _DTD.search(xml):
        raise DocumentRejected(
            f"member {name[:80]!r} declares an XML document type (entity expansion is refused)"
        )
    if _LOCAL_LINKS.search(xml):
        raise DocumentRejected(
            f"member {name[:80]!r} links a file of the machine or another document "
            "(linked files, INCLUDETEXT fields and DDE links are refused)"
        )


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits, so_far: int
) -> int:
    scan = info.filename.lower().endswith((".xml", ".rels", ".vml"))
    size = 0
    carry = b""
    try:
        with archive.open(info) as member:
            while chunk := member.read(_CHUNK):
                size += len(chunk)
                if so_far + size > limits.max_uncompressed_bytes:
                    raise DocumentRejected(_too_big(so_far + size, limits))
                if scan:
                    window = carry + chunk
                    _scan(info.filename, window)
                    carry = window[-512:]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise DocumentRejected(
            f"member {info.filename[:80]!r} of the archive is corrupt ({type(exc).__name__})"
        ) from exc
    return size
