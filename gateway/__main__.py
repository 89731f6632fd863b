"""``python -m gateway serve``: the gateway under uvicorn (port ``QUARRY_PORT``, default 8000)."""

from gateway.settings import GatewaySettings
from shared.cli import ServiceCli

cli = ServiceCli(
    name="gateway",
    app_factory="gateway.app:create_app",
    settings_factory=GatewaySettings,
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
