"""What the analysis service holds for its whole life: built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.analysis.service.chat_exports import ChatExportService
from services.analysis.service.geo import GeoLocator
from services.analysis.settings import AnalysisSettings
from shared.tokens import TokenVerifier


@dataclass
class AnalysisRuntime:
    settings: AnalysisSettings
    sessions: async_sessionmaker[AsyncSession]
    s3: Any
    http: httpx.AsyncClient
    verifier: TokenVerifier
    # Chat data: offline geolocation, and the exports (kept files, the audit log).
    geo: GeoLocator
    chat_exports: ChatExportService
