from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.profile.models import SCHEMA
from services.profile.routes import ROUTERS
from services.profile.settings import ProfileSettings
from shared.resources import open_database, open_redis
from shared.service_app import create_service_app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ProfileSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        await open_redis(stack, app, settings)
        yield


def create_app(settings: ProfileSettings | None = None) -> FastAPI:
    return create_service_app(
        name="profile",
        title="Quarry profile service",
        settings=settings or ProfileSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
