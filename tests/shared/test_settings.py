from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import CommonSettings, service_config


class DemoSettings(CommonSettings):
    model_config = service_config("DEMO_")


def test_service_prefix_overrides_the_shared_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/db")
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://own/db")
    assert DemoSettings().database_url == "postgresql://own/db"
    assert CommonSettings().database_url == "postgresql://shared/db"


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARRY_ENV", "production")
    with pytest.raises(ValidationError, match="development secrets"):
        DemoSettings()
    monkeypatch.setenv("QUARRY_INTERNAL_TOKEN", "x" * 40)
    monkeypatch.setenv("QUARRY_WEBHOOK_SECRET", "y" * 40)
    assert DemoSettings().is_production
