"""Error types of the analysis service (rendered in each route's dialect by the shared handlers)."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ServiceUnavailable


class ExportNotFound(NotFound):
    code = "export_not_found"
    default_message = "Export not found"


class ExportNotReady(NotFound):
    """The Skype spec knows only 404 here: an export still loading is not there yet."""

    code = "export_not_ready"
    default_message = "Export is still being processed"


class LoadIncomplete(Conflict):
    code = "load_incomplete"
    default_message = "Not every chunk of the export is loaded"


class DeletionUnavailable(ServiceUnavailable):
    code = "deletion_unavailable"
    default_message = "The export could not be deleted now; nothing was removed, try again"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"
    default_message = "Upload not found"


class DatasetNotReady(Conflict):
    """The profile of a dataset still processing (or that failed) is not there yet."""

    code = "dataset_not_ready"
    default_message = "The profile is not ready"


class DatasetDeletionUnavailable(ServiceUnavailable):
    code = "deletion_unavailable"
    default_message = "The upload could not be deleted now; nothing was removed, try again"


class ExportFailed(ServiceUnavailable):
    """The Export spec's ``export_failed``: the store failed; the reason in words, never
    a trace."""

    code = "export_failed"
    default_message = "Failed to export chats"


class ClientNotFound(NotFound):
    """A user asked for another tenant's chats: as if that tenant did not exist."""

    default_message = "Client not found"


class ChatExportNotFound(NotFound):
    code = "export_not_found"
    default_message = "Export not found (it may have expired)"
