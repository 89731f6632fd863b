"""Development secrets: generated once and kept in ``$QUARRY_DATA_DIR/secrets.env``
(mode 0600), so a restart keeps users, sessions, API keys and signatures valid.

Two sets share the file: :data:`GENERATORS`, the platform's (handed to the processes
that need them), and :data:`BACKING_GENERATORS`, the local servers' own credentials
(the PostgreSQL superuser, one role per service, Redis, S3), which only the launcher
reads: a service gets its own database URL, never the superuser's password.

Production never uses this: it sets every secret in its environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from deploy.topology import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USERNAME, DEV_API_KEY, SERVICES

ADMIN_USERNAME_DEFAULT = "admin"
ADMIN_EMAIL_DEFAULT = "admin@example.com"

GENERATORS: dict[str, Callable[[], str]] = {
    "QUARRY_INTERNAL_TOKEN": lambda: secrets.token_urlsafe(32),
    "QUARRY_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(32),
    "AUTH_KEY_ENCRYPTION_SECRET": lambda: secrets.token_urlsafe(32),
    # The Profile spec's development key (its own examples use a "dev-" key).
    DEV_API_KEY: lambda: f"dev-{secrets.token_urlsafe(24)}",
    ADMIN_USERNAME: lambda: ADMIN_USERNAME_DEFAULT,
    ADMIN_EMAIL: lambda: ADMIN_EMAIL_DEFAULT,
    ADMIN_PASSWORD: lambda: secrets.token_urlsafe(18),
}


POSTGRES_SUPERUSER_PASSWORD = "QUARRY_POSTGRES_PASSWORD"
REDIS_PASSWORD = "QUARRY_REDIS_PASSWORD"
S3_ACCESS_KEY_ID = "QUARRY_S3_ACCESS_KEY_ID"
S3_SECRET_ACCESS_KEY = "QUARRY_S3_SECRET_ACCESS_KEY"


def service_role_password(service: str) -> str:
    """The secret's name for ``service``'s PostgreSQL role (``QUARRY_POSTGRES_AUTH_PASSWORD``)."""
    return f"QUARRY_POSTGRES_{service.upper()}_PASSWORD"


def _password() -> str:
    return secrets.token_urlsafe(24)


BACKING_GENERATORS: dict[str, Callable[[], str]] = {
    POSTGRES_SUPERUSER_PASSWORD: _password,
    **{service_role_password(s.name): _password for s in SERVICES},
    REDIS_PASSWORD: _password,
    S3_ACCESS_KEY_ID: lambda: f"quarry-{secrets.token_hex(6)}",
    S3_SECRET_ACCESS_KEY: _password,
}


def generate(generators: dict[str, Callable[[], str]]) -> dict[str, str]:
    """Fresh values, kept nowhere (a throw-away backing)."""
    return {name: make() for name, make in generators.items()}


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _write_private(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Quarry development secrets, generated once (delete to regenerate).\n")
        out.writelines(f"{name}={value}\n" for name, value in values.items())
    partial.replace(path)


def load_or_create(
    path: Path, generators: dict[str, Callable[[], str]] | None = None
) -> dict[str, str]:
    """The secrets of ``generators`` (default: the platform's) in ``path``, generating
    (and saving, beside whatever else the file holds) any that are missing."""
    wanted = GENERATORS if generators is None else generators
    values = read_env_file(path)
    missing = [name for name in wanted if not values.get(name)]
    if missing:
        values |= {name: wanted[name]() for name in missing}
        _write_private(path, values)
    return {name: values[name] for name in wanted}
