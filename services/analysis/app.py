from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from services.analysis.dependencies import dataset_service
from services.analysis.models import SCHEMA
from services.analysis.routes import ROUTERS
from services.analysis.service.chat_exports import ChatExportService
from services.analysis.service.chat_exports import run_expiry as run_export_expiry
from services.analysis.service.datasets import run_expiry
from services.analysis.service.geo import GeoLocator
from services.analysis.service.runtime import AnalysisRuntime
from services.analysis.settings import AnalysisSettings
from shared.resources import open_database, open_http, open_object_storage, open_redis
from shared.service_app import create_service_app
from shared.service_auth import open_token_verifier
from shared.tasks import stop_tasks


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: AnalysisSettings = app.state.settings
    async with AsyncExitStack() as stack:
        await open_database(stack, app, settings, SCHEMA)
        redis = await open_redis(stack, app, settings)
        http = await open_http(stack, app, settings)
        s3, _ = await open_object_storage(stack, app, settings)
        geo = GeoLocator(settings.geo_cache_dir, build_timeout=settings.geo_build_timeout_seconds)
        stack.callback(geo.close)
        runtime = AnalysisRuntime(
            settings=settings,
            sessions=app.state.sessions,
            s3=s3,
            http=http,
            verifier=await open_token_verifier(stack, settings, redis, http),
            geo=geo,
            chat_exports=ChatExportService(app.state.sessions, s3, settings),
        )
        app.state.analysis = runtime

        async def geo_status() -> dict[str, object]:
            return geo.status()

        app.state.health_checks["geoip"] = geo_status
        tasks = [
            asyncio.create_task(
                run_expiry(
                    runtime.sessions,
                    lambda session: dataset_service(runtime, session),
                    settings.dataset_expiry_interval_seconds,
                ),
                name="analysis-dataset-expiry",
            ),
            # The index loads (or is built, once per data version) while requests flow.
            asyncio.create_task(geo.start(), name="analysis-geoip"),
            asyncio.create_task(
                run_export_expiry(runtime.chat_exports, settings.export_expiry_interval_seconds),
                name="analysis-chat-export-expiry",
            ),
        ]
        try:
            yield
        finally:
            await stop_tasks(tasks)


def create_app(settings: AnalysisSettings | None = None) -> FastAPI:
    return create_service_app(
        name="analysis",
        title="Quarry analysis service",
        description="Analyses, reports, chat data and exports.",
        settings=settings or AnalysisSettings(),
        lifespan=lifespan,
        routers=ROUTERS,
    )
