from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.profile.clock import Clock
from services.profile.models import SCHEMA
from services.profile.routes import ROUTERS
from services.profile.runtime import build_runtime
from services.profile.settings import ProfileSettings
from shared.resources import open_database, open_http, open_redis
from shared.service_app import create_service_app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ProfileSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        redis = await open_redis(stack, app, settings)
        http = await open_http(stack, app, settings)
        app.state.profile = await build_runtime(
            stack, app, settings, app.state.sessions, redis, http, clock=app.state.clock
        )
        yield


def create_app(settings: ProfileSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    app = create_service_app(
        name="profile",
        title="Quarry profile service",
        description="Profiles with avatars (four tiers), TikTok LIVE sessions, live comments.",
        settings=settings or ProfileSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
    app.state.clock = clock
    return app
