"""Pooled clients a process opens once in its lifespan: database engine, Redis,
HTTP, S3, SQS. Each opener registers its health check on the app.

The client libraries are imported by the opener that needs them, not with this module:
SQLAlchemy, httpx and aioboto3/botocore are ~60 MiB of a process's resident memory
together, and a process that opens no database or object store (the gateway) never
loads them.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from redis.asyncio import Redis

from shared.redis_retry import reconnect_once
from shared.settings import CommonSettings

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine


async def open_database(
    stack: AsyncExitStack, app: FastAPI, settings: CommonSettings, schema: str
) -> AsyncEngine:
    from sqlalchemy.pool import QueuePool

    from shared.database import create_engine, ping, session_factory

    engine = create_engine(settings.database_url, schema, pool_size=settings.database_pool_size)
    stack.push_async_callback(engine.dispose)
    app.state.engine = engine
    app.state.sessions = session_factory(engine)

    async def check() -> dict[str, Any]:
        await ping(engine)
        pool = engine.pool
        info: dict[str, Any] = {"database_type": "postgresql", "schema": schema}
        if isinstance(pool, QueuePool):
            info["pool_size"] = pool.size()
            info["checked_out"] = pool.checkedout()
        return info

    app.state.health_checks["database"] = check
    return engine


def create_redis(url: str) -> Redis:
    """A pooled Redis client whose calls fail within seconds when Redis is gone, and
    that reconnects by itself once it is back (:func:`reconnect_once`)."""
    return Redis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        retry=reconnect_once(),
    )


async def open_redis(stack: AsyncExitStack, app: FastAPI, settings: CommonSettings) -> Redis:
    redis = create_redis(settings.redis_url)
    stack.push_async_callback(redis.aclose)
    app.state.redis = redis

    async def check() -> None:
        await redis.ping()

    app.state.health_checks["redis"] = check
    return redis


async def open_http(
    stack: AsyncExitStack, app: FastAPI, settings: CommonSettings
) -> httpx.AsyncClient:
    import httpx

    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_seconds, connect=3.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
    stack.push_async_callback(client.aclose)
    app.state.http = client
    return client


async def open_object_storage(
    stack: AsyncExitStack, app: FastAPI, settings: CommonSettings
) -> tuple[Any, Any]:
    from shared.aws import new_session, open_s3, open_sqs

    session = new_session()
    s3 = await open_s3(stack, settings, session)
    sqs = await open_sqs(stack, settings, session)
    app.state.s3 = s3
    app.state.sqs = sqs

    async def check_s3() -> None:
        await s3.list_buckets()

    async def check_sqs() -> None:
        await sqs.list_queues(MaxResults=1)

    app.state.health_checks["s3"] = check_s3
    app.state.health_checks["sqs"] = check_sqs
    return s3, sqs
