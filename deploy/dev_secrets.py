"""Development secrets: generated once and kept in ``$QUARRY_DATA_DIR/secrets.env``
(mode 0600), so a restart keeps users, sessions, API keys and signatures valid.

Production never uses this: it sets every secret in its environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from deploy.topology import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_USERNAME, DEV_API_KEY

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


def load_or_create(path: Path) -> dict[str, str]:
    """The development secrets in ``path``, generating (and saving) any that are missing."""
    values = read_env_file(path)
    missing = [name for name in GENERATORS if not values.get(name)]
    if missing:
        values |= {name: GENERATORS[name]() for name in missing}
        _write_private(path, values)
    return values
