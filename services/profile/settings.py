from __future__ import annotations

from shared.settings import CommonSettings, service_config


class ProfileSettings(CommonSettings):
    """Settings of the profile service (env prefix ``PROFILE_``)."""

    model_config = service_config("PROFILE_")

    host: str = "127.0.0.1"
    port: int = 8104
