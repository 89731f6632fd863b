"""Error types of the ingest service (rendered in each route's dialect by the shared handlers)."""

from __future__ import annotations

from shared.errors import BadRequest, NotFound, PayloadTooLarge, ServiceUnavailable


class MalformedUpload(BadRequest):
    code = "malformed_upload"
    default_message = "Expected a multipart/form-data body with a 'file' part"


class MissingFilePart(BadRequest):
    code = "missing_file"
    default_message = "No file part in the upload"


class EmptyUpload(BadRequest):
    code = "empty_file"
    default_message = "The uploaded file is empty"


class UnsupportedFileKind(BadRequest):
    code = "unsupported_file_type"
    default_message = "This kind of file is not accepted here"


class UploadTooLarge(PayloadTooLarge):
    code = "file_too_large"
    default_message = "File too large"


class JobNotFound(NotFound):
    code = "job_not_found"
    default_message = "Task not found"


class FileNotFound(NotFound):
    code = "file_not_found"
    default_message = "File not found"


class JobFailedError(BadRequest):
    """A synchronous upload whose job failed: the job's reason, as a 400."""

    code = "processing_failed"
    default_message = "Processing failed"


class QueueUnavailable(ServiceUnavailable):
    code = "queue_unavailable"
    default_message = "The job queue is unavailable"


class GuestSessionRequired(BadRequest):
    code = "session_id_required"
    default_message = "A guest upload needs a 'session_id' form field"


class AnalysisUnavailable(ServiceUnavailable):
    code = "analysis_unavailable"
    default_message = "The analysis service is unavailable; try the upload again"


class FileDoesNotExist(BadRequest):
    """The Files spec's answer for an ``s3_key`` that is not the caller's."""

    code = "file_does_not_exist"
    default_message = "File does not exist"


class UnsupportedConversion(BadRequest):
    code = "unsupported_conversion"
    default_message = "Unsupported conversion"


class ConversionUnavailable(BadRequest):
    code = "conversion_unavailable"
    default_message = "This conversion is unavailable on this platform"
