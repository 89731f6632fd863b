"""Receiving a multipart upload straight into S3: the reusable helper of every upload
route (Skype exports, datasets, documents).

The request body is read as it arrives (python-multipart's streaming parser); the
file part goes to a :class:`~services.ingest.uploads.storage.StreamingObjectWriter` part by
part, so memory stays flat whatever the size. On the way the SHA-256 is computed,
the kind is sniffed from the first bytes (:mod:`services.ingest.uploads.sniffing`) and
checked by the caller, and the size is checked against the limit: past it the
upload is refused with 413 at once, not after reading the rest. Whatever fails,
nothing is left in S3.

Usage::

    upload = await receive_upload(request, s3, bucket=..., key=..., limits=...,
                                  accept_kind=lambda kind: ...)
    upload.file.size, upload.file.sha256, upload.file.kind, upload.fields["user_display_name"]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

from services.ingest.errors import (
    EmptyUpload,
    MalformedUpload,
    MissingFilePart,
    UploadTooLarge,
)
from services.ingest.uploads.sniffing import SNIFF_BYTES, sniff_kind
from services.ingest.uploads.storage import StreamingObjectWriter
from shared.errors import QuarryError


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int
    part_bytes: int
    parts_in_flight: int
    max_field_bytes: int = 64 * 1024
    max_fields: int = 32


@dataclass(frozen=True)
class StoredFile:
    """The file part as stored: where, how big, its digest and sniffed kind."""

    bucket: str
    key: str
    size: int
    sha256: str
    kind: str
    filename: str
    content_type: str | None


@dataclass
class ReceivedUpload:
    file: StoredFile
    fields: dict[str, str] = field(default_factory=dict)


# Called once with the sniffed kind; raises a QuarryError to refuse the upload.
KindCheck = Callable[[str], None]


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _UploadReceiver:
    """State of one multipart body: the parser's callbacks fill it synchronously,
    :meth:`drain` then does the asynchronous work (S3) between two chunks."""

    def __init__(
        self,
        s3: Any,
        *,
        bucket: str,
        key: str,
        limits: UploadLimits,
        file_field: str,
        accept_kind: KindCheck | None,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._limits = limits
        self._file_field = file_field
        self._accept_kind = accept_kind
        self.fields: dict[str, str] = {}
        self.writer: StreamingObjectWriter | None = None
        self.file_meta: _Part | None = None
        self.kind: str | None = None
        self._head = bytearray()
        self._pending = bytearray()  # file bytes parsed but not yet written
        self._part: _Part | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._file_done = False
        self._field_count = 0
        self.error: QuarryError | None = None

    # --- parser callbacks (synchronous) ---

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        assert self._part is not None
        name = self._header_field.decode("latin-1").strip().lower()
        # Latin-1 keeps the bytes: parse_options_header encodes a str back as Latin-1,
        # and the filename's UTF-8 is decoded once, below (UTF-8 here mangled "é").
        self._part.headers[name] = self._header_value.decode("latin-1").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        assert part is not None
        _, options = parse_options_header(part.headers.get("content-disposition", ""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        part.filename = raw_filename.decode("utf-8", "replace") if raw_filename else None
        part.content_type = part.headers.get("content-type")
        if part.name == self._file_field and raw_filename is not None:
            if self.file_meta is not None:
                self._fail(MalformedUpload(f"Only one '{self._file_field}' part is accepted"))
                return
            self.file_meta = part
        else:
            self._field_count += 1
            if self._field_count > self._limits.max_fields:
                self._fail(MalformedUpload("Too many form fields"))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None or self.error is not None:
            return
        if part is self.file_meta:
            self._pending += data[start:end]
            return
        part.data += data[start:end]
        if len(part.data) > self._limits.max_field_bytes:
            self._fail(MalformedUpload(f"Form field '{part.name}' is too long"))

    def _on_part_end(self) -> None:
        part = self._part
        self._part = None
        if part is None:
            return
        if part is self.file_meta:
            self._file_done = True
        elif part.name:
            self.fields[part.name] = part.data.decode("utf-8", "replace")

    def _fail(self, error: QuarryError) -> None:
        if self.error is None:
            self.error = error

    # --- asynchronous work between chunks ---

    async def drain(self, *, final: bool = False) -> None:
        """Write what the parser produced since the last call."""
        if self.error is not None:
            raise self.error
        if self.file_meta is None or (not self._pending and not final):
            return
        data = bytes(self._pending)
        self._pending.clear()
        written = (self.writer.size if self.writer is not None else len(self._head)) + len(data)
        if written > self._limits.max_file_bytes:
            raise UploadTooLarge(
                f"File exceeds the maximum upload size of {self._limits.max_file_bytes} bytes"
            )
        if self.kind is None:
            self._head += data
            if len(self._head) < SNIFF_BYTES and not (final or self._file_done):
                return
            await self._start(bytes(self._head))
            data = b""
        assert self.writer is not None
        if data:
            await self.writer.write(data)

    async def _start(self, head: bytes) -> None:
        self.kind = sniff_kind(head[:SNIFF_BYTES])
        if self.kind == "empty":
            raise EmptyUpload()
        if self._accept_kind is not None:
            self._accept_kind(self.kind)
        meta = self.file_meta
        assert meta is not None
        self.writer = StreamingObjectWriter(
            self._s3,
            self._bucket,
            self._key,
            part_bytes=self._limits.part_bytes,
            parts_in_flight=self._limits.parts_in_flight,
            metadata={"kind": self.kind},
        )
        await self.writer.write(head)


def multipart_boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise MalformedUpload("Expected a multipart/form-data body with a 'file' part")
    return boundary


async def receive_upload(
    request: Request,
    s3: Any,
    *,
    bucket: str,
    key: str,
    limits: UploadLimits,
    file_field: str = "file",
    accept_kind: KindCheck | None = None,
) -> ReceivedUpload:
    """Stream the multipart ``request`` body's ``file_field`` part to ``bucket/key``.

    Raises (nothing stored in any case): :class:`MalformedUpload` (not multipart, a
    broken body, two file parts, oversized fields), :class:`MissingFilePart`,
    :class:`EmptyUpload`, :class:`UploadTooLarge` (413, as soon as the limit is
    crossed), whatever ``accept_kind`` raises, and ``ClientDisconnect``.
    """
    boundary = multipart_boundary(request)
    receiver = _UploadReceiver(
        s3,
        bucket=bucket,
        key=key,
        limits=limits,
        file_field=file_field,
        accept_kind=accept_kind,
    )
    parser = MultipartParser(boundary, cast("MultipartCallbacks", receiver.callbacks()))
    try:
        async for chunk in request.stream():
            if chunk:
                try:
                    parser.write(chunk)
                except FormParserError as exc:
                    raise MalformedUpload("The multipart body is malformed") from exc
                await receiver.drain()
        try:
            parser.finalize()
        except FormParserError as exc:
            raise MalformedUpload("The multipart body is malformed") from exc
        if receiver.file_meta is None:
            raise MissingFilePart(f"No '{file_field}' part in the upload")
        if not receiver._file_done:
            raise MalformedUpload("The multipart body ended inside the file part")
        await receiver.drain(final=True)
        writer = receiver.writer
        assert writer is not None
        assert receiver.kind is not None
        await writer.finish()
    except (Exception, ClientDisconnect):
        if receiver.writer is not None:
            await receiver.writer.abort()
        raise
    meta = receiver.file_meta
    return ReceivedUpload(
        file=StoredFile(
            bucket=bucket,
            key=key,
            size=writer.size,
            sha256=writer.sha256,
            kind=receiver.kind,
            filename=_clean_filename(meta.filename or "upload"),
            content_type=meta.content_type,
        ),
        fields=receiver.fields,
    )


def _clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return (cleaned or "upload")[:255]
