"""``python -m gateway serve``: the gateway under uvicorn (port ``QUARRY_PORT``, default 8000),
with the guarded HTTP protocol of :mod:`gateway.connection_guard`."""

from gateway.connection_guard import server_options
from gateway.settings import GatewaySettings
from shared.cli import ServiceCli

cli = ServiceCli(
    name="gateway",
    app_factory="gateway.app:create_app",
    settings_factory=GatewaySettings,
    server_options=server_options,  # type: ignore[arg-type]
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
