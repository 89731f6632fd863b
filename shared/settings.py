"""Settings every process shares, read from the environment (pydantic-settings).

Each service subclasses :class:`CommonSettings` with its own ``env_prefix``;
the shared names (``DATABASE_URL``, ``REDIS_URL``, ...) are read without a
prefix, and a service-prefixed variable (``AUTH_DATABASE_URL``) overrides them,
so one database per service works by configuration alone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_MARKER = "dev-insecure"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def shared_field(name: str, default: Any, **kwargs: Any) -> Any:
    """A field read from the shared variable ``NAME``.

    In a subclass with an ``env_prefix`` the prefixed ``<PREFIX>NAME`` is read first.
    """
    return Field(
        default,
        validation_alias=AliasChoices(name),
        json_schema_extra={"shared_env": name},
        **kwargs,
    )


class CommonSettings(BaseSettings):
    """Settings shared by the gateway and every service.

    Subclasses set ``model_config = service_config("AUTH_")``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = shared_field("QUARRY_ENV", Environment.DEVELOPMENT)
    version: str = shared_field("QUARRY_VERSION", "1.0.0")
    log_level: str = shared_field("LOG_LEVEL", "INFO")
    log_json: bool = shared_field("LOG_JSON", True)

    database_url: str = shared_field(
        "DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/quarry"
    )
    database_pool_size: int = shared_field("DATABASE_POOL_SIZE", 5)
    redis_url: str = shared_field("REDIS_URL", "redis://127.0.0.1:6379/0")

    s3_endpoint_url: str | None = shared_field("S3_ENDPOINT_URL", None)
    sqs_endpoint_url: str | None = shared_field("SQS_ENDPOINT_URL", None)
    aws_region: str = shared_field("AWS_REGION", "us-east-1")
    aws_access_key_id: str | None = shared_field("AWS_ACCESS_KEY_ID", None)
    aws_secret_access_key: str | None = shared_field("AWS_SECRET_ACCESS_KEY", None)

    # Where auth publishes its JWKS and introspection (internal network only).
    auth_internal_url: str = shared_field("AUTH_INTERNAL_URL", "http://127.0.0.1:8101")
    jwt_issuer: str = shared_field("JWT_ISSUER", "quarry-auth")
    jwt_audience: str = shared_field("JWT_AUDIENCE", "quarry")

    # Shared secret for /internal/... calls between services (never routed by the gateway).
    internal_token: str = shared_field(
        "QUARRY_INTERNAL_TOKEN", f"{DEV_SECRET_MARKER}-internal-token"
    )
    webhook_secret: str = shared_field(
        "QUARRY_WEBHOOK_SECRET", f"{DEV_SECRET_MARKER}-webhook-secret"
    )

    # Proxies whose X-Forwarded-For is believed (the gateway, a load balancer).
    trusted_proxies: list[str] = shared_field("TRUSTED_PROXIES", ["127.0.0.1/32", "::1/128"])
    http_timeout_seconds: float = shared_field("HTTP_TIMEOUT_SECONDS", 10.0)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        prefix = str(cls.model_config.get("env_prefix") or "")
        if not prefix:
            return
        for field in cls.model_fields.values():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and "shared_env" in extra:
                name = str(extra["shared_env"])
                field.validation_alias = AliasChoices(f"{prefix}{name}", name)
        cls.model_rebuild(force=True)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    def secret_fields(self) -> list[str]:
        """Names of fields that must not keep a development value in production."""
        return ["internal_token", "webhook_secret"]

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> CommonSettings:
        if self.is_production:
            weak = [
                name
                for name in self.secret_fields()
                if DEV_SECRET_MARKER in str(getattr(self, name) or "")
                or len(str(getattr(self, name) or "")) < 16
            ]
            if weak:
                raise ValueError(f"production refuses development secrets for: {', '.join(weak)}")
        return self


def service_config(prefix: str) -> SettingsConfigDict:
    """The settings config of one service: its own prefix, unknown variables ignored."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)
