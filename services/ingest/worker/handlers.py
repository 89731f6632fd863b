"""Which handler does a job, by its ``type``: ``async def handle(ctx: JobContext) -> dict``.

A message of a type not listed here is left on the queue, comes back, and after
``max_receive_count`` receives lands in the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.ingest.worker import skype_parse
from services.ingest.worker.datasets.handler import JOB_TYPE as DATASET_PROFILE
from services.ingest.worker.datasets.handler import profile_dataset
from services.ingest.worker.documents.handlers import DOCUMENT_HANDLERS
from services.ingest.worker.execution import JobHandler
from services.ingest.worker.messages import JobMessage

# What the SQS loop calls for a message (the runner binds every job type to the executor).
Handler = Callable[[JobMessage], Awaitable[None]]

JOB_HANDLERS: dict[str, JobHandler] = {
    skype_parse.JOB_TYPE: skype_parse.handle,
    DATASET_PROFILE: profile_dataset,
    **DOCUMENT_HANDLERS,  # document.convert, document.parse, document.tonality
}
