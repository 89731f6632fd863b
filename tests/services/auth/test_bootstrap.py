"""Start-up tasks and the CLI: the first administrator, the development user, keys."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.auth.app import create_app
from services.auth.models import SigningKey, User
from services.auth.service.bootstrap import create_admin, ensure_bootstrap_admin
from services.auth.service.runtime import AuthRuntime
from services.auth.settings import SPEC_EXAMPLE_KEY, AuthSettings
from tests.services.auth.conftest import (
    ADMIN_PASSWORD,
    INTERNAL_TOKEN,
    AuthDriver,
    asgi_client,
    new_account,
)

ROOT = Path(__file__).resolve().parents[3]


async def count_users(runtime: AuthRuntime, username: str) -> int:
    async with runtime.sessions() as session:
        stmt = select(func.count()).select_from(User).where(User.username == username)
        return int((await session.execute(stmt)).scalar_one())


async def test_bootstrap_admin_is_idempotent(runtime: AuthRuntime) -> None:
    await ensure_bootstrap_admin(runtime)
    await ensure_bootstrap_admin(runtime)
    assert await count_users(runtime, "root") == 1


async def test_an_existing_account_is_never_promoted(
    runtime: AuthRuntime, driver: AuthDriver
) -> None:
    squatter = await driver.register()
    user, created = await create_admin(
        runtime.sessions, runtime.hasher, squatter.username, "ops@example.com", ADMIN_PASSWORD
    )
    assert not created
    assert user.role == "user"
    login = await driver.login(squatter)
    assert login.json()["user"]["role"] == "user"


def run_cli(settings: AuthSettings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "API_KEY"))},
        "PYTHONPATH": str(ROOT),
        "AUTH_DATABASE_URL": settings.database_url,
        "AUTH_KEY_ENCRYPTION_SECRET": settings.key_encryption_secret,
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "1024",
        "AUTH_ARGON2_PARALLELISM": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.auth", *args],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_create_admin_command_generates_and_prints_a_password(
    auth_settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    account = new_account()
    result = run_cli(
        auth_settings, "create-admin", "--username", account.username, "--email", account.email
    )
    assert result.returncode == 0, result.stderr
    password = result.stdout.split("password: ", 1)[1].strip()
    login = await client.post(
        "/auth/login", json={"username": account.username, "password": password}
    )
    assert login.status_code == 200
    assert login.json()["user"]["role"] == "admin"
    again = run_cli(
        auth_settings, "create-admin", "--username", account.username, "--email", account.email
    )
    assert again.returncode == 1
    assert "exists" in again.stderr


async def test_create_admin_command_takes_the_configured_password(
    auth_settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    account = new_account()
    result = run_cli(
        auth_settings,
        "create-admin",
        "--username",
        account.username,
        "--email",
        account.email,
        AUTH_BOOTSTRAP_ADMIN_PASSWORD="Another-Admin-Pass-1",
    )
    assert result.returncode == 0, result.stderr
    assert "password:" not in result.stdout
    login = await client.post(
        "/auth/login", json={"username": account.username, "password": "Another-Admin-Pass-1"}
    )
    assert login.status_code == 200
    weak = run_cli(
        auth_settings,
        "create-admin",
        "--username",
        account.username + "x",
        "--email",
        "x" + account.email,
        AUTH_BOOTSTRAP_ADMIN_PASSWORD="password",
    )
    assert weak.returncode == 2
    assert "too common" in weak.stderr


async def test_rotate_keys_command_adds_a_published_key(
    auth_settings: AuthSettings, runtime: AuthRuntime
) -> None:
    before = {k["kid"] for k in (await runtime.keys.jwks(fresh=True))["keys"]}
    result = run_cli(auth_settings, "rotate-keys", "--activate-in", "3600")
    assert result.returncode == 0, result.stderr
    after = {k["kid"] for k in (await runtime.keys.jwks(fresh=True))["keys"]}
    assert before < after
    (new_kid,) = after - before
    assert new_kid in result.stdout
    async with runtime.sessions() as session:
        row = await session.get(SigningKey, new_kid)
    assert row is not None
    assert b"PRIVATE KEY" not in row.private_key_encrypted  # encrypted at rest


async def test_no_development_key_unless_configured(auth_settings: AuthSettings) -> None:
    settings = auth_settings.model_copy(update={"api_key": None})
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        assert app.state.auth.dev_identity is None
        for candidate in (auth_settings.api_key.get_secret_value(), SPEC_EXAMPLE_KEY):
            response = await c.post(
                "/internal/introspect",
                json={"kind": "api_key", "credential": candidate},
                headers={"X-Internal-Token": INTERNAL_TOKEN},
            )
            assert response.json() == {"active": False}


def test_a_blank_api_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "  ")
    assert AuthSettings().api_key is None
