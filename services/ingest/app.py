from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.ingest.models import SCHEMA
from services.ingest.routes import ROUTERS
from services.ingest.service.relay import OutboxRelay
from services.ingest.service.runtime import IngestRuntime
from services.ingest.service.waiting import JobEvents
from services.ingest.settings import IngestSettings
from services.ingest.uploads.storage import ensure_bucket
from shared.resources import open_database, open_http, open_object_storage, open_redis
from shared.service_app import create_service_app
from shared.service_auth import open_token_verifier
from shared.tasks import stop_tasks


def _background(stack: AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    stack.push_async_callback(stop_tasks, [asyncio.create_task(work, name=name)])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: IngestSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        redis = await open_redis(stack, app, settings)
        http = await open_http(stack, app, settings)
        s3, sqs = await open_object_storage(stack, app, settings)
        await ensure_bucket(s3, settings.bucket)
        events = JobEvents(redis)
        relay = OutboxRelay(app.state.sessions, sqs, settings, events)
        app.state.ingest = IngestRuntime(
            settings=settings,
            sessions=app.state.sessions,
            redis=redis,
            s3=s3,
            sqs=sqs,
            verifier=await open_token_verifier(stack, settings, redis, http),
            events=events,
            relay=relay,
            http=http,
        )
        # Cancelled (and awaited) before the clients they use are closed.
        _background(stack, events.run(), "ingest-job-events")
        _background(stack, relay.run(), "ingest-outbox-relay")
        yield


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    return create_service_app(
        name="ingest",
        title="Quarry ingest service",
        description="Uploads to S3, files, jobs and their progress.",
        settings=settings or IngestSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
