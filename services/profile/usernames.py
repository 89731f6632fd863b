"""Usernames as the profile service accepts them: TikTok's alphabet, nothing that could
change the shape of a URL it is put into (no "/", "@", ":", "%", "\\", whitespace)."""

from __future__ import annotations

import re

from shared.errors import BadRequest

MAX_LENGTH = 64
# Letters, digits, "_" and "."; not starting or ending with ".", no "..".
_VALID = re.compile(r"^(?!.*\.\.)[a-z0-9_](?:[a-z0-9_.]{0,62}[a-z0-9_])?$")


class InvalidUsername(BadRequest):
    code = "invalid_username"
    default_message = "Invalid username"


def canonical_username(raw: str) -> str:
    """The lower-case username without a leading "@", or :class:`InvalidUsername`."""
    name = raw.strip()
    if name.startswith("@"):
        name = name[1:]
    name = name.lower()
    if not _VALID.match(name):
        raise InvalidUsername(
            "A username is 1-64 letters, digits, '_' or '.' (not at either end, no '..')",
            details={"username": raw[:80]},
        )
    return name


def is_valid_username(raw: str) -> bool:
    try:
        canonical_username(raw)
    except InvalidUsername:
        return False
    return True
