"""Which handler processes a job message, by the message's ``type``.

Empty until the parse jobs exist: a message of an unknown type is left on the
queue, comes back, and after ``max_receive_count`` receives lands in the
dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.ingest.worker.messages import JobMessage

Handler = Callable[[JobMessage], Awaitable[None]]

HANDLERS: dict[str, Handler] = {}
