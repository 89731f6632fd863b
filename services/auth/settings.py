from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from shared.settings import DEV_SECRET_MARKER, CommonSettings, service_config

# The Profile spec's example development key: never acceptable in production.
SPEC_EXAMPLE_KEY = "dev-api-key-12345"


class AuthSettings(CommonSettings):
    """Settings of the auth service (env prefix ``AUTH_``)."""

    model_config = service_config("AUTH_")

    host: str = "127.0.0.1"
    port: int = 8101

    # Encrypts signing keys and TOTP secrets at rest (a key is derived from it with HKDF).
    key_encryption_secret: str = f"{DEV_SECRET_MARKER}-key-encryption-secret"

    # Token lifetimes (seconds).
    access_token_ttl_seconds: int = Field(900, ge=30, le=86_400)
    introspection_token_ttl_seconds: int = Field(300, ge=10, le=3_600)
    refresh_token_ttl_seconds: int = Field(14 * 86_400, ge=60)
    session_idle_ttl_seconds: int = Field(7 * 86_400, ge=60)
    session_absolute_ttl_seconds: int = Field(30 * 86_400, ge=60)
    # How often a used session or API key gets its last-seen time written (not on every request).
    touch_interval_seconds: int = Field(60, ge=0)

    # Signing keys: a rotated-in key is published this long before it signs anything.
    # Keep it above a verifier's JWKS refetch interval (shared.tokens: 5 s), so that a
    # verifier which fetched just before the rotation may fetch again when the kid appears.
    signing_key_activation_delay_seconds: int = Field(10, ge=0)
    signing_key_cache_seconds: float = Field(30.0, ge=0)

    # argon2id parameters (RFC 9106 "second recommended" option by default).
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_cost: int = Field(65_536, ge=8)  # KiB
    argon2_parallelism: int = Field(4, ge=1)

    # Brute-force protection (services.auth.security.throttle; numbers in docs/DESIGN.md).
    # Failed logins tolerated from one client (IPv4 address or IPv6 /64) on one account,
    # and from one client on all accounts, per window:
    login_max_failures_per_client_and_account: int = Field(5, ge=1)
    login_max_failures_per_ip: int = Field(50, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)
    # On one account from all clients: the ceiling per account window, and past
    # `login_delay_after_failures` a client that failed waits 1 s, 2 s, 4 s... (capped)
    # after the account's latest failure.
    login_max_failures_per_account: int = Field(100, ge=1)
    login_account_window_seconds: int = Field(3600, ge=1)
    login_delay_after_failures: int = Field(10, ge=0)
    login_delay_cap_seconds: float = Field(60.0, ge=0)

    # Registrations (every attempt, whatever its answer) per client per window: a
    # registration tells whether a name is taken, so it must not enumerate at speed.
    registration_max_per_client: int = Field(10, ge=1)
    registration_window_seconds: int = Field(3600, ge=1)

    totp_issuer: str = "Quarry"

    # /internal/revocations?since=<cursor> repeats this much before the cursor, so a
    # revocation whose transaction committed after a poll it predates is still seen.
    revocation_feed_overlap_seconds: float = Field(30.0, ge=0, le=3_600)

    # Housekeeping (services.auth.service.housekeeping): ended sessions, expired refresh tokens and
    # revoked or expired API keys are deleted once they have been over this long.
    prune_retention_seconds: int = Field(30 * 86_400, ge=0)
    # How often each replica tries to prune (one at a time); 0 disables the periodic task.
    prune_interval_seconds: float = Field(3_600.0, ge=0)
    # The first run, this long after start-up.
    prune_initial_delay_seconds: float = Field(60.0, ge=0)
    # Rows per DELETE statement (each batch is its own short transaction).
    prune_batch_size: int = Field(1_000, ge=1, le=100_000)

    # The Profile spec's development key: read from AUTH_API_KEY or API_KEY; absent = none.
    api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("AUTH_API_KEY", "API_KEY")
    )
    dev_username: str = "developer"

    # First administrator, created at start-up when configured (idempotent).
    bootstrap_admin_username: str | None = None
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None

    @property
    def max_access_token_ttl(self) -> int:
        """The longest an access token issued by this service can live."""
        return max(self.access_token_ttl_seconds, self.introspection_token_ttl_seconds)

    def secret_fields(self) -> list[str]:
        return [*super().secret_fields(), "key_encryption_secret"]

    @field_validator("api_key", mode="after")
    @classmethod
    def _blank_is_absent(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _refuse_weak_dev_key_in_production(self) -> AuthSettings:
        if self.is_production and self.api_key is not None:
            value = self.api_key.get_secret_value()
            if DEV_SECRET_MARKER in value or value == SPEC_EXAMPLE_KEY or len(value) < 24:
                raise ValueError("production refuses a short or example API_KEY")
        admin_password = self.bootstrap_admin_password
        if (
            self.is_production
            and admin_password is not None
            and DEV_SECRET_MARKER in admin_password.get_secret_value()
        ):
            raise ValueError("production refuses a development bootstrap admin password")
        if self.session_absolute_ttl_seconds < self.session_idle_ttl_seconds:
            raise ValueError("session_absolute_ttl_seconds must be >= session_idle_ttl_seconds")
        return self
