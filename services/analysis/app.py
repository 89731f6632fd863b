from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.analysis.models import SCHEMA
from services.analysis.routes import ROUTERS
from services.analysis.settings import AnalysisSettings
from shared.resources import open_database, open_object_storage, open_redis
from shared.service_app import create_service_app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalysisSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        await open_redis(stack, app, settings)
        await open_object_storage(stack, app, settings)
        yield


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    return create_service_app(
        name="analysis",
        title="Quarry analysis service",
        settings=settings or AnalysisSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
