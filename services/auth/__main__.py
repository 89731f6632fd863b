import argparse
from dataclasses import dataclass
from pathlib import Path

from services.auth.cli import (
    add_arguments,
    create_admin_command,
    prune_command,
    rotate_keys_command,
)
from services.auth.models import SCHEMA
from services.auth.settings import AuthSettings
from shared.cli import ServiceCli


@dataclass
class AuthCli(ServiceCli):
    def add_arguments(self, parsers: dict[str, argparse.ArgumentParser]) -> None:
        add_arguments(parsers)


cli = AuthCli(
    name="services.auth",
    app_factory="services.auth.app:create_app",
    settings_factory=AuthSettings,
    migrations_dir=Path(__file__).parent / "migrations",
    schema=SCHEMA,
    extra={
        "create-admin": create_admin_command,
        "rotate-keys": rotate_keys_command,
        "prune": prune_command,
    },
)

if __name__ == "__main__":
    raise SystemExit(cli.main())
