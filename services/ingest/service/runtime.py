"""What the ingest service holds for its whole life: built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.service.relay import OutboxRelay
from services.ingest.service.waiting import JobEvents
from services.ingest.settings import IngestSettings
from shared.tokens import TokenVerifier


@dataclass
class IngestRuntime:
    settings: IngestSettings
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    s3: Any
    sqs: Any
    verifier: TokenVerifier
    events: JobEvents
    relay: OutboxRelay
    http: httpx.AsyncClient
