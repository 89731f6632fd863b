"""S3 and SQS clients (aioboto3), configured by endpoint URL: AWS in production,
a local S3/SQS server (moto) in development and tests."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from botocore.config import Config

from shared.settings import CommonSettings


def _client_kwargs(settings: CommonSettings, endpoint_url: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "region_name": settings.aws_region,
        "config": Config(
            connect_timeout=5,
            read_timeout=max(30.0, settings.http_timeout_seconds),
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    }
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if settings.aws_access_key_id:
        kwargs["aws_access_key_id"] = settings.aws_access_key_id
        kwargs["aws_secret_access_key"] = settings.aws_secret_access_key
    return kwargs


async def open_s3(stack: AsyncExitStack, settings: CommonSettings) -> Any:
    """An S3 client owned by ``stack`` (one per process, closed with the lifespan)."""
    session = aioboto3.Session()
    return await stack.enter_async_context(
        session.client("s3", **_client_kwargs(settings, settings.s3_endpoint_url))
    )


async def open_sqs(stack: AsyncExitStack, settings: CommonSettings) -> Any:
    """An SQS client owned by ``stack``."""
    session = aioboto3.Session()
    return await stack.enter_async_context(
        session.client("sqs", **_client_kwargs(settings, settings.sqs_endpoint_url))
    )
