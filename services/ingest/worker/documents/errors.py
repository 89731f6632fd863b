"""Why a document could not be processed.

:class:`DocumentRejected` is the document's fault (hostile, malformed, encrypted, too
big, too slow to convert): retrying cannot help, so the job handler turns it into a
failed job with :attr:`reason`. Anything else raised here is an outage (a missing
converter, a crashed fork server) and the job is retried.
"""

from __future__ import annotations


class DocumentRejected(Exception):
    """The document cannot be processed; ``reason`` is shown to its owner."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ConverterUnavailable(Exception):
    """A converter this worker needs is not installed (see :mod:`.converters`)."""
