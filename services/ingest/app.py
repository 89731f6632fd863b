from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.ingest.models import SCHEMA
from services.ingest.routes import ROUTERS
from services.ingest.settings import IngestSettings
from shared.resources import open_database, open_object_storage, open_redis
from shared.service_app import create_service_app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: IngestSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        await open_redis(stack, app, settings)
        await open_object_storage(stack, app, settings)
        yield


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    return create_service_app(
        name="ingest",
        title="Quarry ingest service",
        settings=settings or IngestSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
