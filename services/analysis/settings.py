from __future__ import annotations

from shared.settings import CommonSettings, service_config


class AnalysisSettings(CommonSettings):
    """Settings of the analysis service (env prefix ``ANALYSIS_``)."""

    model_config = service_config("ANALYSIS_")

    host: str = "127.0.0.1"
    port: int = 8103
