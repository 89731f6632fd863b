from pathlib import Path

from services.ingest.models import SCHEMA
from services.ingest.settings import IngestSettings
from shared.cli import ServiceCli

cli = ServiceCli(
    name="services.ingest",
    app_factory="services.ingest.app:create_app",
    settings_factory=IngestSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    schema=SCHEMA,
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
