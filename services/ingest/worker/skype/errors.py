"""The one error the Skype format code raises for bad input."""

from __future__ import annotations


class InvalidExport(ValueError):
    """The upload is not a readable Skype export.

    ``reason`` is a sentence for the person who uploaded the file (it becomes the job's
    error and the sync path's ``{"error": ...}``): what is wrong, never a stack trace.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
