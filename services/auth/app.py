from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial

from fastapi import FastAPI

from services.auth.models import SCHEMA
from services.auth.routes import ROUTERS
from services.auth.service.bootstrap import (
    build_runtime,
    check_revocations,
    check_signing_keys,
)
from services.auth.service.housekeeping import run_periodically
from services.auth.settings import AuthSettings
from shared.resources import open_database, open_redis
from shared.service_app import create_service_app
from shared.tasks import stop_tasks


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AuthSettings = app.state.settings
    async with AsyncExitStack() as stack:
        engine = await open_database(stack, app, settings, SCHEMA)
        redis = await open_redis(stack, app, settings)
        runtime = await build_runtime(stack, settings, app.state.sessions, redis)
        app.state.auth = runtime
        app.state.health_checks["signing_keys"] = partial(check_signing_keys, runtime)
        app.state.health_checks["revocations"] = partial(check_revocations, runtime)
        if settings.prune_interval_seconds > 0:
            pruner = asyncio.create_task(run_periodically(engine, settings), name="auth-prune")
            app.state.pruner = pruner
            # Registered after the engine: cancelled (and awaited) before it is disposed.
            stack.push_async_callback(stop_tasks, [pruner])
        yield


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    return create_service_app(
        name="auth",
        title="Quarry auth service",
        description="Accounts, sessions, tokens, API keys and two-factor authentication.",
        settings=settings or AuthSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
