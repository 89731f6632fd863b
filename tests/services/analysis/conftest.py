"""The analysis service in-process (httpx.ASGITransport) on a database of its own on the
session's real PostgreSQL, with the session's Redis and S3 (moto)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.analysis.app import create_app
from services.analysis.models import SCHEMA
from services.analysis.settings import AnalysisSettings
from shared.aws import open_s3
from shared.database import async_url
from shared.migrations import upgrade
from shared.webhooks import sign

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "analysis" / "migrations"
WEBHOOK_SECRET = "test-webhook-secret-" + "y" * 16
BUCKET = "analysis-tests"


async def _admin_sql(database_url: str, statement: str) -> None:
    engine = create_async_engine(async_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def analysis_database_url(backing: Any) -> AsyncIterator[str]:
    name = f"analysis_test_{uuid.uuid4().hex[:12]}"
    await _admin_sql(backing.database_url, f'CREATE DATABASE "{name}"')
    url = make_url(async_url(backing.database_url)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, rendered, SCHEMA)
    yield rendered
    await _admin_sql(backing.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def analysis_settings(analysis_database_url: str, backing: Any) -> AnalysisSettings:
    return AnalysisSettings(
        environment="test",
        log_json=False,
        log_level="WARNING",
        database_url=analysis_database_url,
        redis_url=backing.redis_url,
        s3_endpoint_url=backing.s3_endpoint_url,
        sqs_endpoint_url=backing.sqs_endpoint_url,
        aws_region=backing.aws_region,
        aws_access_key_id=backing.aws_access_key_id,
        aws_secret_access_key=backing.aws_secret_access_key,
        webhook_secret=WEBHOOK_SECRET,
    )


@pytest_asyncio.fixture(scope="session")
async def analysis_app(analysis_settings: AnalysisSettings) -> AsyncIterator[FastAPI]:
    app = create_app(analysis_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture(scope="session")
async def s3(analysis_settings: AnalysisSettings) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        client = await open_s3(stack, analysis_settings)
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            await client.create_bucket(Bucket=BUCKET)
        yield client


@pytest_asyncio.fixture(scope="session")
async def db(analysis_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(analysis_database_url)
    yield engine
    await engine.dispose()


class Worker:
    """Signed webhooks to the in-process analysis app, as the parse worker sends them."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(
        self, topic: str, payload: dict[str, Any], *, event_id: str | None = None
    ) -> httpx.Response:
        body = orjson.dumps({"topic": topic, **payload})
        headers = sign(WEBHOOK_SECRET, event_id or str(uuid.uuid4()), body)
        return await self.client.post(
            f"/webhooks/{topic}",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )


@pytest_asyncio.fixture
async def worker(analysis_app: FastAPI) -> AsyncIterator[Worker]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=analysis_app), base_url="http://analysis.test"
    ) as client:
        yield Worker(client)
