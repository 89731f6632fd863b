"""Settings of the gateway (env prefix ``GATEWAY_``; shared names as in docs/DESIGN.md)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator

from gateway.cors import normalize_origin
from shared.heartbeat import WORKER_HEARTBEAT_KEY
from shared.settings import CommonSettings, service_config, shared_field

MIB = 1024 * 1024


def _rate(value: str) -> str:
    amount, _, seconds = value.partition("/")
    if not amount.strip().isdigit() or not seconds.strip().isdigit() or int(amount) < 1:
        raise ValueError(f"rate limit {value!r} is not '<requests>/<seconds>'")
    return value.strip()


class GatewaySettings(CommonSettings):
    """Settings of the gateway (env prefix ``GATEWAY_``)."""

    model_config = service_config("GATEWAY_")

    host: str = "127.0.0.1"
    port: int = Field(8000, validation_alias=AliasChoices("QUARRY_PORT", "GATEWAY_PORT"))

    # Where each service listens (internal network).
    ingest_internal_url: str = shared_field("INGEST_INTERNAL_URL", "http://127.0.0.1:8102")
    analysis_internal_url: str = shared_field("ANALYSIS_INTERNAL_URL", "http://127.0.0.1:8103")
    profile_internal_url: str = shared_field("PROFILE_INTERNAL_URL", "http://127.0.0.1:8104")

    # The gateway is the edge unless told which proxies in front of it to believe
    # (read only as GATEWAY_TRUSTED_PROXIES: the shared TRUSTED_PROXIES tells the
    # services to trust the gateway, which is a different statement).
    trusted_proxies: list[str] = Field(default_factory=list)

    # Upstream calls: connecting, and waiting for the first byte / between bytes.
    upstream_connect_timeout_seconds: float = Field(3.0, gt=0)
    upstream_timeout_seconds: float = Field(30.0, gt=0)
    # Routes that legitimately take long (synchronous processing of uploads, server-side waits).
    upstream_long_timeout_seconds: float = Field(300.0, gt=0)
    upstream_max_connections: int = Field(512, ge=1)
    # Timeout of control-plane calls (introspection, JWKS, health checks).
    control_timeout_seconds: float = Field(3.0, gt=0)
    # After a failed call to auth, new credentials fail at once (503) this long; then one
    # call tries auth again (gateway.breaker).
    auth_breaker_seconds: float = Field(2.0, ge=0)

    # Clients that hold connections (gateway.connection_guard): request line + headers over
    # this answer 431; headers not complete this long after the connection opened (or
    # after the previous answer) answer 408; at most this many open connections per
    # client address, trusted proxies exempt (0: no cap); idle kept-alive connections
    # are closed after keep_alive_timeout_seconds.
    max_header_bytes: int = Field(32 * 1024, ge=1024)
    header_timeout_seconds: float = Field(10.0, gt=0)
    max_connections_per_client: int = Field(64, ge=0)
    keep_alive_timeout_seconds: float = Field(5.0, gt=0)

    # The client's request body: the longest pause between two chunks, and the lowest
    # average rate (bytes/s) once the grace period is over; slower is a 408 (slowloris).
    client_body_idle_timeout_seconds: float = Field(30.0, gt=0)
    client_body_min_rate_bytes: float = Field(1024.0, ge=0)
    client_body_grace_seconds: float = Field(10.0, ge=0)

    # Request body limits.
    max_upload_bytes: int = Field(1024 * MIB, ge=1)  # the Skype /api/upload hard maximum
    max_body_bytes: int = Field(50 * MIB, ge=1)  # every other route
    # The largest WebSocket message relayed either way (larger: both sides closed, 1009).
    websocket_max_message_bytes: int = Field(16 * MIB, ge=1)
    # permessage-deflate towards WebSocket clients. Off: each subscriber's frames would be
    # compressed in its own zlib context (no sharing between subscribers), which was the
    # largest cost of relaying a comment fan-out (bench/profile.py) and holds ~300 KB of
    # zlib state per socket; comment frames are a few hundred bytes.
    websocket_per_message_deflate: bool = False

    # Rate limits, "<requests>/<seconds>" (the Profile and Export specs' defaults).
    rate_limit_enabled: bool = True
    rate_limit_api: str = "100/60"
    rate_limit_auth: str = "10/60"
    rate_limit_connect: str = "5/60"
    rate_limit_strict: str = "10/60"
    rate_limit_websocket: str = "20/60"
    rate_limit_export_user: str = "10/60"
    rate_limit_export_client: str = "100/3600"
    # Health, monitoring and documentation: generous, so probes and launchers never trip it.
    rate_limit_system: str = "600/60"
    # Redis calls of the limiter fail fast; after a failure Redis is skipped this long.
    rate_limit_redis_timeout_seconds: float = Field(0.5, gt=0)
    rate_limit_breaker_seconds: float = Field(2.0, ge=0)
    rate_limit_redis_max_connections: int = Field(64, ge=1)
    # Separate Redis for the limiter (defaults to REDIS_URL).
    rate_limit_redis_url: str | None = None

    # Credentials: introspection answers and verified bearer tokens cached in memory.
    introspection_cache_size: int = Field(10_000, ge=0)
    introspection_cache_max_ttl_seconds: float = Field(300.0, ge=0)
    # Refresh an introspected credential this long before its minted token expires.
    introspection_expiry_margin_seconds: float = Field(15.0, ge=0)
    introspection_negative_ttl_seconds: float = Field(5.0, ge=0)
    token_cache_size: int = Field(10_000, ge=0)
    # While Redis pub/sub is down, auth's /internal/revocations is polled this often: a
    # credential revoked meanwhile stops working within about this long.
    revocation_poll_seconds: float = Field(2.0, gt=0)
    # Addresses remembered as guessing credentials (gateway.penalties): a bounded table.
    penalised_addresses_max: int = Field(100_000, ge=0)

    # Aggregated health: cached briefly so /api/health cannot amplify traffic.
    health_cache_seconds: float = Field(1.0, ge=0)
    health_timeout_seconds: float = Field(2.0, gt=0)
    worker_heartbeat_key: str = WORKER_HEARTBEAT_KEY
    worker_heartbeat_max_age_seconds: float = Field(60.0, gt=0)
    require_worker: bool = True

    # Merged OpenAPI document: refreshed at most this often.
    openapi_cache_seconds: float = Field(30.0, ge=0)

    # Browser origins (exact "scheme://host[:port]", a JSON list in GATEWAY_CORS_ORIGINS)
    # allowed to call the gateway from another origin, cookies included; they also pass
    # the cross-site check of cookie-authenticated requests. Empty: same-origin pages only.
    cors_origins: list[str] = Field(default_factory=list)
    cors_allow_methods: list[str] = Field(
        default_factory=lambda: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    )
    cors_allow_headers: list[str] = Field(
        default_factory=lambda: [
            "Authorization",
            "Content-Type",
            "X-API-Key",
            "X-Request-ID",
            "Prefer",
        ]
    )
    cors_expose_headers: list[str] = Field(
        default_factory=lambda: [
            "X-Request-ID",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "Retry-After",
            "Content-Disposition",
        ]
    )
    # How long a browser may cache a preflight answer (Chrome caps it at 7200).
    cors_max_age_seconds: int = Field(600, ge=0, le=86_400)

    @field_validator(
        "rate_limit_api",
        "rate_limit_auth",
        "rate_limit_connect",
        "rate_limit_strict",
        "rate_limit_websocket",
        "rate_limit_export_user",
        "rate_limit_export_client",
        "rate_limit_system",
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        return _rate(value)

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_origin(origin) for origin in value))

    @field_validator("cors_allow_methods", "cors_allow_headers", "cors_expose_headers")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if any("*" in item for item in value):
            raise ValueError("list the names: '*' is not allowed in the CORS policy")
        return [item.strip() for item in value if item.strip()]

    @field_validator("cors_allow_methods")
    @classmethod
    def _upper_methods(cls, value: list[str]) -> list[str]:
        return [method.upper() for method in value]

    @property
    def service_urls(self) -> dict[str, str]:
        """Base URL of every service the gateway routes to."""
        return {
            "auth": self.auth_internal_url.rstrip("/"),
            "ingest": self.ingest_internal_url.rstrip("/"),
            "analysis": self.analysis_internal_url.rstrip("/"),
            "profile": self.profile_internal_url.rstrip("/"),
        }
