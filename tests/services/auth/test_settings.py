import pytest
from pydantic import ValidationError

from services.auth.settings import AuthSettings

STRONG = "s" * 32


def production(**overrides: object) -> AuthSettings:
    values: dict[str, object] = {
        "environment": "production",
        "internal_token": STRONG,
        "webhook_secret": STRONG,
        "key_encryption_secret": STRONG,
    }
    values.update(overrides)
    return AuthSettings(**values)


def test_production_accepts_real_secrets() -> None:
    assert production().is_production


def test_production_refuses_the_development_key_encryption_secret() -> None:
    with pytest.raises(ValidationError, match="key_encryption_secret"):
        production(key_encryption_secret=AuthSettings().key_encryption_secret)


def test_production_refuses_a_weak_development_api_key() -> None:
    with pytest.raises(ValidationError, match="API_KEY"):
        production(api_key="dev-api-key-12345")


def test_production_refuses_the_compose_development_admin_password() -> None:
    with pytest.raises(ValidationError, match="bootstrap admin password"):
        production(bootstrap_admin_password="dev-insecure-admin-password")
    assert production(bootstrap_admin_password="a-real-long-admin-passphrase").is_production


def test_api_key_is_read_from_the_plain_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "dev-api-key-12345")
    key = AuthSettings().api_key
    assert key is not None
    assert key.get_secret_value() == "dev-api-key-12345"
    monkeypatch.delenv("API_KEY")
    monkeypatch.delenv("AUTH_API_KEY", raising=False)
    assert AuthSettings().api_key is None


def test_service_prefix_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ACCESS_TOKEN_TTL_SECONDS", "600")
    settings = AuthSettings()
    assert settings.port == 8101
    assert settings.access_token_ttl_seconds == 600
    assert settings.introspection_token_ttl_seconds == 300
    assert settings.refresh_token_ttl_seconds == 14 * 86400
    assert settings.session_idle_ttl_seconds == 7 * 86400
