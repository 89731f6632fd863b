"""The Files spec's storage (spec/file-processing-api.md): uploads, the file history,
presigned downloads and removal.

- A file belongs to the user who uploaded it (admins may reach any by id); anyone
  else gets 404, as for a file that does not exist.
- The kind comes from the content (never the name): the streaming upload sniffs the
  first bytes, and text is told apart (txt, md, html, csv, json) by the document
  sniffer with the name as a tie-break. Other kinds are refused before being stored.
- The same content uploaded twice by one user is stored once: the second upload
  answers the first one's record (a unique index makes it so under concurrency too).
- A conversion's result is a ``derived`` file linked to its source
  (``source_file_id``); removing a file removes its derived files, their objects and
  the cached results that point at them.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.errors import FileDoesNotExist, FileNotFound, UnsupportedFileKind
from services.ingest.models import File
from services.ingest.repository import IngestRepository
from services.ingest.service.jobs import now
from services.ingest.uploads.multipart import StoredFile
from services.ingest.uploads.storage import delete_object
from services.ingest.worker.documents.kinds import DocumentKind, parse_kind
from services.ingest.worker.documents.sniffing import HEAD_BYTES, sniff_bytes
from shared.identity import Principal
from shared.log import get_logger

log = get_logger("services.ingest.document_files")

PURPOSE = "document"
DERIVED = "derived"
PURPOSES = (PURPOSE, DERIVED)
# The streaming upload's sniffed kinds (uploads/sniffing.py) that may be documents.
_SNIFFED_BINARY = {"docx": "docx", "xlsx": "xlsx", "odt": "odt", "pdf": "pdf", "parquet": "parquet"}
_SNIFFED_TEXT = {"text", "csv", "json"}
ACCEPTED = "txt, md, html, csv, json, docx, xlsx, odt, pdf or parquet"


def check_document_kind(kind: str) -> None:
    """Refuse, from the first bytes, what is never a document here."""
    if kind not in _SNIFFED_BINARY and kind not in _SNIFFED_TEXT:
        raise UnsupportedFileKind(f"Unsupported file type ({kind}); upload {ACCEPTED}.")


def document_kind(sniffed: str, head: bytes, filename: str) -> DocumentKind:
    """The recorded kind: binary kinds as sniffed, text told apart by its content."""
    if sniffed in _SNIFFED_BINARY:
        return DocumentKind(_SNIFFED_BINARY[sniffed])
    kind = sniff_bytes(head, filename=filename, complete=len(head) < HEAD_BYTES)
    if kind is None or not kind.is_text:
        raise UnsupportedFileKind(f"Unsupported file type; upload {ACCEPTED}.")
    return kind


def object_key(user_id: str, public_id: uuid.UUID) -> str:
    return f"files/{user_id}/{public_id}"


async def read_head(s3: Any, bucket: str, key: str) -> bytes:
    """The first bytes of a stored object (the text sniffer's sample)."""
    answer = await s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")
    async with answer["Body"] as body:
        data: bytes = await body.read()
    return data


def may_use(principal: Principal, file: File) -> bool:
    return principal.is_admin or file.user_id == principal.user_id


def content_type_of(file: File) -> str:
    kind = parse_kind(file.kind)
    return kind.content_type if kind is not None else "application/octet-stream"


def describe(file: File, s3_endpoint_url: str | None) -> dict[str, Any]:
    """The Files spec's FileMetadata of ``file`` (``s3_url``: the object's address,
    not a credential: downloads go through a presigned URL)."""
    endpoint = (s3_endpoint_url or "https://s3.amazonaws.com").rstrip("/")
    return {
        "id": file.id,
        "filename": file.original_filename,
        "s3_key": file.s3_key,
        "s3_url": f"{endpoint}/{file.bucket}/{file.s3_key}",
        "size": file.size,
        "content_type": content_type_of(file),
        "uploaded_at": file.created_at,
        "sha256": file.sha256,
        "kind": file.kind,
        "source_file_id": file.source_file_id,
    }


def content_disposition(filename: str) -> str:
    """``attachment`` with the original name: an ASCII fallback and the exact UTF-8
    name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    quoted = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quoted}"


class DocumentFiles:
    def __init__(self, session: AsyncSession, s3: Any) -> None:
        self.session = session
        self.repo = IngestRepository(session)
        self._s3 = s3

    async def record_upload(
        self, stored: StoredFile, kind: DocumentKind, principal: Principal, public_id: uuid.UUID
    ) -> File:
        """The stored upload's record, or the caller's earlier record of the same
        content (the new object is then deleted)."""
        existing = await self.repo.document_by_content(principal.user_id, stored.sha256)
        if existing is not None:
            await delete_object(self._s3, stored.bucket, stored.key)
            return existing
        file = File(
            public_id=public_id,
            user_id=principal.user_id,
            client_id=principal.client_id,
            original_filename=stored.filename,
            bucket=stored.bucket,
            s3_key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            kind=str(kind),
            content_type=(stored.content_type or "")[:255] or None,
            purpose=PURPOSE,
        )
        try:
            await self.repo.add_file(file)
            await self.session.commit()
        except IntegrityError:  # the same content, uploaded at the same moment
            await self.session.rollback()
            await delete_object(self._s3, stored.bucket, stored.key)
            winner = await self.repo.document_by_content(principal.user_id, stored.sha256)
            if winner is None:
                raise
            return winner
        return file

    async def history(
        self, principal: Principal, *, limit: int, offset: int, kind: str | None
    ) -> Sequence[File]:
        return await self.repo.file_history(
            principal.user_id, PURPOSES, limit=limit, offset=offset, kind=kind
        )

    async def get(self, file_id: int, principal: Principal) -> File:
        """The caller's file ``file_id``; 404 for anyone else's or a removed one."""
        file = await self.repo.get_file(file_id)
        if (
            file is None
            or file.deleted_at is not None
            or file.purpose not in PURPOSES
            or not may_use(principal, file)
        ):
            raise FileNotFound()
        return file

    async def resolve(self, s3_key: str, principal: Principal) -> File:
        """The caller's file named by ``s3_key``: its S3 key, or (as the spec's curl
        examples do) the original file name, the latest upload of that name."""
        file = await self.repo.document_by_key(principal.user_id, s3_key, PURPOSES)
        if file is None:
            file = await self.repo.document_by_name(principal.user_id, s3_key, PURPOSES)
        if file is None:
            raise FileDoesNotExist()
        return file

    async def presigned_download(self, file: File, expires_seconds: int) -> str:
        url: str = await self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": file.bucket,
                "Key": file.s3_key,
                "ResponseContentDisposition": content_disposition(file.original_filename),
                "ResponseContentType": content_type_of(file),
            },
            ExpiresIn=expires_seconds,
        )
        return url

    async def remove(self, file_id: int, principal: Principal) -> int:
        """Remove the file and every file derived from it (records, objects, cached
        results pointing at those objects); how many files went."""
        file = await self.get(file_id, principal)
        doomed = [file, *await self.repo.derived_tree(file.id)]
        when = now()
        for each in doomed:
            each.deleted_at = when
        await self.repo.forget_results_of([each.s3_key for each in doomed])
        await self.session.commit()
        # After the commit: a failed delete leaves an orphan object, never a record
        # pointing at nothing.
        for each in doomed:
            try:
                await delete_object(self._s3, each.bucket, each.s3_key)
            except Exception as exc:
                log.error("file_object_not_deleted", file_id=each.id, error=repr(exc))
        return len(doomed)


def derived_name(source_filename: str, target: DocumentKind) -> str:
    return f"{PurePath(source_filename).stem or 'document'}.{target.extension}"
