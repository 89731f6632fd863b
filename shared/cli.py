"""``python -m services.<name> <command>``: the same commands for every service.

``serve`` runs the app under uvicorn on the service's configured host and port;
``migrate`` upgrades the service's own schema to head. A service may add more.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from shared.log import access_log_enabled
from shared.settings import CommonSettings


@dataclass
class ServiceCli:
    name: str
    app_factory: str  # "services.auth.app:create_app"
    settings_factory: Callable[[], CommonSettings]
    migrations_dir: Path | None = None
    schema: str | None = None
    extra: dict[str, Callable[[argparse.Namespace], int]] = field(default_factory=dict)
    # More uvicorn options from the settings (the gateway's guarded protocol, ...).
    server_options: Callable[[CommonSettings], dict[str, Any]] | None = None

    def serve(self, _: argparse.Namespace) -> int:
        settings = self.settings_factory()
        host = str(getattr(settings, "host", "127.0.0.1"))
        port = int(getattr(settings, "port", 8000))
        options: dict[str, Any] = {
            "loop": "uvloop",
            "http": "httptools",
            "log_config": None,
            "access_log": access_log_enabled(),  # QUARRY_ACCESS_LOG=1
            # The client address is derived from trusted proxies ourselves.
            "proxy_headers": False,
            "timeout_graceful_shutdown": 10,
        }
        if self.server_options is not None:
            options.update(self.server_options(settings))
        uvicorn.run(self.app_factory, factory=True, host=host, port=port, **options)
        return 0

    def migrate(self, _: argparse.Namespace) -> int:
        if self.migrations_dir is None or self.schema is None:
            return 0
        # Alembic (and SQLAlchemy with it) only for this command, not in a serving process.
        from shared.migrations import upgrade

        settings = self.settings_factory()
        upgrade(self.migrations_dir, settings.database_url, self.schema)
        return 0

    def main(self, argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=f"python -m {self.name}")
        sub = parser.add_subparsers(dest="command", required=True)
        commands: dict[str, Callable[[argparse.Namespace], int]] = {
            "serve": self.serve,
            "migrate": self.migrate,
            **self.extra,
        }
        parsers = {name: sub.add_parser(name) for name in commands}
        self.add_arguments(parsers)
        args = parser.parse_args(argv)
        return commands[args.command](args)

    def add_arguments(self, parsers: dict[str, argparse.ArgumentParser]) -> None:
        """Hook for services whose extra commands take arguments."""
