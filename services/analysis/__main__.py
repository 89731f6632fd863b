from pathlib import Path

from services.analysis.models import SCHEMA
from services.analysis.settings import AnalysisSettings
from shared.cli import ServiceCli

cli = ServiceCli(
    name="services.analysis",
    app_factory="services.analysis.app:create_app",
    settings_factory=AnalysisSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    schema=SCHEMA,
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
