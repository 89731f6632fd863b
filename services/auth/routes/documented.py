"""The ``responses=`` of a route: the errors it answers besides validation (documented by
FastAPI) and the gateway's own (401, 429, 503: documented by the gateway's merge)."""

from __future__ import annotations

from typing import Any


def errors(by_status: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``{status: description}`` as FastAPI's ``responses`` (the gateway adds the body schema)."""
    return {status: {"description": description} for status, description in by_status.items()}


BAD_LOGIN = {401: "Invalid username or password, or a missing or wrong TOTP code"}
RESTRICTED_KEY = {403: "Account changes need a full-access credential, not a restricted API key"}
