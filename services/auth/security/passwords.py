"""Password hashing (argon2id) and the password policy (NIST SP 800-63B style).

Hashing and verification run in a worker thread: at production parameters one
verification takes tens of milliseconds of CPU, which must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.auth.errors import WeakPassword

MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """zxcvbn's list of the 30,000 most common passwords (lower case), loaded once."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str, *, username: str, email: str) -> None:
    """Raise :class:`WeakPassword` with a message a person can act on.

    Length 8..128 (any characters, no composition rules), not one of the most common
    passwords, and not the username or email (or its local part).
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Password must be at most {MAX_LENGTH} characters long")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword("This password is too common; choose a less predictable one")
    personal = {username.lower(), email.lower(), email.split("@", 1)[0].lower()}
    if lowered in personal:
        raise WeakPassword("Password must not be the same as your username or email")


class PasswordHasher:
    """argon2id with configurable cost; knows when a stored hash needs upgrading."""

    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = Argon2Hasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Constant work whether or not the account exists: a missing hash is
        checked against a dummy hash of the same cost."""
        if stored_hash is None:
            await asyncio.to_thread(self._verify, await self._dummy(), password)
            return False
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    async def warm_up(self) -> None:
        """Compute the dummy hash at start-up so the first unknown-user login costs the same."""
        await self._dummy()
