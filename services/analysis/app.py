from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.analysis.dependencies import dataset_service
from services.analysis.models import SCHEMA
from services.analysis.routes import ROUTERS
from services.analysis.service.datasets import run_expiry
from services.analysis.service.runtime import AnalysisRuntime
from services.analysis.settings import AnalysisSettings
from shared.resources import open_database, open_http, open_object_storage, open_redis
from shared.service_app import create_service_app
from shared.service_auth import open_token_verifier


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalysisSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        redis = await open_redis(stack, app, settings)
        http = await open_http(stack, app, settings)
        s3, _ = await open_object_storage(stack, app, settings)
        runtime = AnalysisRuntime(
            settings=settings,
            sessions=app.state.sessions,
            s3=s3,
            http=http,
            verifier=await open_token_verifier(stack, settings, redis, http),
        )
        app.state.analysis = runtime
        sweep = asyncio.create_task(
            run_expiry(
                runtime.sessions,
                lambda session: dataset_service(runtime, session),
                settings.dataset_expiry_interval_seconds,
            ),
            name="analysis-dataset-expiry",
        )
        try:
            yield
        finally:
            sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweep


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    return create_service_app(
        name="analysis",
        title="Quarry analysis service",
        description="Analyses, reports, chat data and exports.",
        settings=settings or AnalysisSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
