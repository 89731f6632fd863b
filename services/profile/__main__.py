from pathlib import Path
from typing import Any

from services.profile.models import SCHEMA
from services.profile.settings import ProfileSettings
from shared.cli import ServiceCli
from shared.settings import CommonSettings
from shared.websocket_writes import CoalescingWebSocketProtocol


def server_options(_: CommonSettings) -> dict[str, Any]:
    # A batch of comments sent to one subscriber leaves in one write.
    return {"ws": CoalescingWebSocketProtocol}


cli = ServiceCli(
    name="services.profile",
    app_factory="services.profile.app:create_app",
    settings_factory=ProfileSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    schema=SCHEMA,
    server_options=server_options,
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
