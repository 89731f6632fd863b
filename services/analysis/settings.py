from __future__ import annotations

from pathlib import Path

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

    # --- chat data (POST /client/chats) ---
    # The geolocation index (services/analysis/service/geo.py) is built once per GeoLite2
    # data version into this directory (unwritable or unset: a temporary one per process).
    geo_cache_dir: Path | None = Field(default_factory=lambda: Path.home() / ".cache/quarry/geoip")
    geo_build_timeout_seconds: float = Field(300.0, gt=0)
    # A chat message arriving while the index still loads waits this long for it.
    geo_wait_seconds: float = Field(60.0, ge=0)
    chat_max_body_bytes: int = Field(256 * 1024, ge=1024)
    chat_batch_max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    chat_batch_max_messages: int = Field(500, ge=1)

    # --- chat exports (POST /client/export/chats, GET /client/export/chats/download) ---
    exports_bucket: str = "quarry-exports"
    # A kept export file is removed this long after it was made; the sweep runs this often.
    export_ttl_seconds: int = Field(24 * 3600, ge=1)
    export_expiry_interval_seconds: float = Field(60.0, gt=0)
    # The largest `limit` accepted (Excel holds 1,048,576 rows a sheet).
    export_max_limit: int = Field(1_000_000, ge=1, le=1_048_575)
    # Rows fetched from the server-side cursor at a time.
    export_batch_rows: int = Field(2000, ge=1)
    # S3 multipart part size of a kept export (S3's minimum is 5 MiB).
    export_part_bytes: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)
    # An export waits at most this long for a table lock (then: export_failed)...
    export_lock_timeout_seconds: float = Field(5.0, gt=0)
    # ...and a download whose client stops reading for this long loses its transaction.
    export_idle_seconds: float = Field(300.0, gt=0)
