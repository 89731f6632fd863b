"""The demo account: registered once, then reused.

The first run registers ``demo`` (``POST /auth/register``), logs in and makes a
``pk_`` key with every permission a user holds (``POST /auth/api-keys/generate``);
username, password and key go to the state directory. A later run checks the saved
key (``GET /auth/api-keys``); a key that stopped working is replaced by logging in
with the saved password. Nothing is registered twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from demo.client import Platform, PlatformError
from demo.state import SavedAccount, StateDir

KEY_NAME = "quarry demo"


class AccountError(Exception):
    """The demo account cannot be used; the message says what to do."""


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    api_key: str
    created: bool  # registered by this run
    new_key: bool  # a key made by this run


async def _new_key(platform: Platform, username: str, password: str) -> str:
    login = await platform.post_json(
        "/auth/login", {"username": username, "password": password}, authenticated=False
    )
    generated = await platform.post_json(
        "/auth/api-keys/generate",
        {"name": KEY_NAME, "permissions": ["*"]},
        headers={"Authorization": f"Bearer {login['access_token']}"},
    )
    return str(generated["api_key"])


async def _key_works(platform: Platform, api_key: str) -> bool:
    response = await platform.request(
        "GET", "/auth/api-keys", headers={"X-API-Key": api_key}, expect=(200, 401, 403)
    )
    return response.status_code == 200


async def ensure_account(platform: Platform, state: StateDir, username: str) -> DemoAccount:
    """The demo account, registered if the state directory knows none for this gateway;
    ``platform.api_key`` is set to its key."""
    saved = state.load_account()
    if saved is not None and (saved.username, saved.gateway) == (username, platform.base_url):
        if await _key_works(platform, saved.api_key):
            platform.api_key = saved.api_key
            return DemoAccount(username, saved.password, saved.api_key, False, False)
        try:
            key = await _new_key(platform, username, saved.password)
        except PlatformError as exc:
            if exc.status != 401:
                raise
            # The platform forgot the account (its data was deleted): register it again.
        else:
            state.save_account(_replace_key(saved, key))
            platform.api_key = key
            return DemoAccount(username, saved.password, key, False, True)
    password = secrets.token_urlsafe(18)
    email = f"{username}@example.com"
    try:
        await platform.post_json(
            "/auth/register",
            {"username": username, "email": email, "password": password},
            authenticated=False,
        )
    except PlatformError as exc:
        if exc.status in (400, 409) and "exist" in exc.reason.lower():
            raise AccountError(
                f"The account {username!r} exists on {platform.base_url}, but "
                f"{state.account_file} has no password for it. Run the demo with another "
                "--username, or delete the platform's data (.quarry) to start afresh."
            ) from exc
        raise
    key = await _new_key(platform, username, password)
    state.save_account(SavedAccount(platform.base_url, username, email, password, key))
    platform.api_key = key
    return DemoAccount(username, password, key, True, True)


def _replace_key(saved: SavedAccount, key: str) -> SavedAccount:
    return SavedAccount(saved.gateway, saved.username, saved.email, saved.password, key)
