"""The worker's one :class:`DocumentProcessor`: started with the worker, its
capabilities published in Redis beside the heartbeat (``/monitoring/detailed`` shows
them under ``worker.converters``), closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from services.ingest.worker.documents.processor import DocumentProcessor
from shared.heartbeat import CAPABILITIES_TTL_SECONDS, publish_capabilities
from shared.log import get_logger

log = get_logger("services.ingest.worker.documents")
_processor: DocumentProcessor | None = None


def document_processor() -> DocumentProcessor:
    """The process's processor (its fork server starts on first use if not before)."""
    global _processor
    if _processor is None:
        _processor = DocumentProcessor()
    return _processor


def summary(processor: DocumentProcessor) -> dict[str, Any]:
    """The capabilities, condensed for a health report."""
    report = processor.capabilities()
    return {
        "tools": report["tools"],
        "available": sum(1 for c in report["conversions"] if c["available"]),
        "unavailable": report["unavailable"],
        "network_isolated": report["network_isolated"],
        "office_network_isolated": report["office_network_isolated"],
    }


async def _start_and_publish(
    redis: Redis, processor: DocumentProcessor, stopping: asyncio.Event
) -> None:
    try:
        await processor.start()
    except Exception:  # the worker runs on: document jobs retry, the report says why
        log.exception("document_processor_start_failed")
    while not stopping.is_set():
        try:
            await publish_capabilities(redis, summary(processor))
        except Exception as exc:  # Redis away: publish again later
            log.warning("capabilities_publish_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), CAPABILITIES_TTL_SECONDS / 3)


@contextlib.asynccontextmanager
async def running_documents(redis: Redis) -> AsyncIterator[DocumentProcessor]:
    """Start the processor in the background (the worker consumes meanwhile; a document
    job waits for it), then publish its capabilities until shutdown."""
    processor = document_processor()
    stopping = asyncio.Event()
    publisher = asyncio.create_task(_start_and_publish(redis, processor, stopping))
    try:
        yield processor
    finally:
        stopping.set()
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        await processor.close()
