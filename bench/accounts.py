"""The benches' accounts: a fresh Skype user registered through the gateway."""

from __future__ import annotations

import secrets

import httpx


def skype_api_key(gateway_url: str) -> str:
    """Register a new Skype user (the spec's ``POST /api/register``); its API key."""
    user = f"bench{secrets.token_hex(4)}"
    answer = httpx.post(
        f"{gateway_url}/api/register",
        json={
            "username": user,
            "password": "Str0ng_Pass!",
            "email": f"{user}@example.com",
            "display_name": "Bench",
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["api_key"])
