"""Auth's extra commands: ``create-admin``, ``rotate-keys`` and ``prune``."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys

from services.auth.errors import WeakPassword
from services.auth.models import SCHEMA
from services.auth.service.bootstrap import create_admin, password_hasher, signing_key_store
from services.auth.service.housekeeping import prune_exclusively
from services.auth.settings import AuthSettings
from shared.database import create_engine, session_factory


async def _create_admin(settings: AuthSettings, username: str, email: str) -> int:
    configured = settings.bootstrap_admin_password
    password = configured.get_secret_value() if configured else secrets.token_urlsafe(18)
    engine = create_engine(settings.database_url, SCHEMA, pool_size=1)
    try:
        user, created = await create_admin(
            session_factory(engine), password_hasher(settings), username, email, password
        )
    except WeakPassword as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    if not created:
        print(
            f"refused: an account named {user.username!r} or with that email exists",
            file=sys.stderr,
        )
        return 1
    print(f"created administrator {user.username} ({user.id})")
    if configured is None:
        print(f"password: {password}")
    return 0


async def _rotate_keys(settings: AuthSettings, activate_in: float | None) -> int:
    engine = create_engine(settings.database_url, SCHEMA, pool_size=1)
    try:
        store = signing_key_store(settings, session_factory(engine))
        kid = await store.rotate(activation_delay_seconds=activate_in)
    finally:
        await engine.dispose()
    delay = settings.signing_key_activation_delay_seconds if activate_in is None else activate_in
    print(
        f"new signing key {kid}: published now, signing in {delay:g} s; older keys stay published"
    )
    return 0


async def _prune(settings: AuthSettings) -> int:
    engine = create_engine(settings.database_url, SCHEMA, pool_size=1)
    try:
        counts = await prune_exclusively(engine, settings)
    finally:
        await engine.dispose()
    if counts is None:
        print("skipped: another process is pruning right now", file=sys.stderr)
        return 1
    for table, deleted in counts.as_dict().items():
        print(f"{table}: {deleted} deleted")
    return 0


def create_admin_command(args: argparse.Namespace) -> int:
    return asyncio.run(_create_admin(AuthSettings(), args.username, args.email))


def rotate_keys_command(args: argparse.Namespace) -> int:
    return asyncio.run(_rotate_keys(AuthSettings(), args.activate_in))


def prune_command(_: argparse.Namespace) -> int:
    return asyncio.run(_prune(AuthSettings()))


def add_arguments(parsers: dict[str, argparse.ArgumentParser]) -> None:
    admin = parsers["create-admin"]
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.description = (
        "Create an administrator. The password comes from AUTH_BOOTSTRAP_ADMIN_PASSWORD, "
        "or is generated and printed once."
    )
    rotate = parsers["rotate-keys"]
    rotate.add_argument(
        "--activate-in",
        type=float,
        default=None,
        help="seconds until the new key signs (default AUTH_SIGNING_KEY_ACTIVATION_DELAY_SECONDS)",
    )
    parsers["prune"].description = (
        "Delete ended sessions, expired refresh tokens, revoked or expired API keys and "
        "retired signing keys past AUTH_PRUNE_RETENTION_SECONDS; print the counts."
    )
