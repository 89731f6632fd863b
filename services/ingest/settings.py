from __future__ import annotations

from shared.settings import CommonSettings, service_config


class IngestSettings(CommonSettings):
    """Settings of the ingest service (env prefix ``INGEST_``)."""

    model_config = service_config("INGEST_")

    host: str = "127.0.0.1"
    port: int = 8102
