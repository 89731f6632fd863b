from pathlib import Path

from services.profile.models import SCHEMA
from services.profile.settings import ProfileSettings
from shared.cli import ServiceCli

cli = ServiceCli(
    name="services.profile",
    app_factory="services.profile.app:create_app",
    settings_factory=ProfileSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    schema=SCHEMA,
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
