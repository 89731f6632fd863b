from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, service_config, shared_field


class AnalysisSettings(CommonSettings):
    """Settings of the analysis service (env prefix ``ANALYSIS_``)."""

    model_config = service_config("ANALYSIS_")

    host: str = "127.0.0.1"
    port: int = 8103

    # Where ingest listens (a deleted export's upload is removed there).
    ingest_internal_url: str = shared_field("INGEST_INTERNAL_URL", "http://127.0.0.1:8102")
    # Webhook signatures older or newer than this are refused (replays).
    webhook_tolerance_seconds: int = Field(300, ge=1)
    # Guest dataset uploads (PyAnalypt, by session_id) are removed, with their objects,
    # this long after they were uploaded; the sweep looks for them this often.
    guest_upload_ttl_seconds: int = Field(24 * 3600, ge=1)
    dataset_expiry_interval_seconds: float = Field(60.0, gt=0)
