"""Shared steps of the accounts end-to-end tests (tests/e2e/test_accounts_*.py):
everything goes through the gateway, as a client of the specs would."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from services.auth.security import totp

STRONG_PASSWORD = "Str0ng_Pass!"  # the Files spec's example password


def other_ip() -> str:
    """A fresh client address (another person, or an attacker moving around)."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@dataclass
class Person:
    username: str
    email: str
    password: str
    ip: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Forwarded-For": self.ip}


def person(unique: str, stem: str = "user", password: str = STRONG_PASSWORD) -> Person:
    suffix = f"{unique}{random.randint(0, 99999):05d}"
    return Person(f"{stem}{suffix}", f"{stem}{suffix}@example.com", password, other_ip())


async def register(gw: httpx.AsyncClient, who: Person) -> dict[str, object]:
    response = await gw.post(
        "/auth/register",
        json={"username": who.username, "email": who.email, "password": who.password},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    user: dict[str, object] = response.json()["user"]
    return user


async def login(gw: httpx.AsyncClient, who: Person, **extra: str) -> httpx.Response:
    return await gw.post(
        "/auth/login",
        json={"username": who.username, "password": who.password, **extra},
        headers=who.headers,
    )


async def bearer(gw: httpx.AsyncClient, who: Person) -> dict[str, str]:
    response = await login(gw, who)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", **who.headers}


def code_for(secret: str, step: int) -> str:
    """The TOTP code of ``step`` (a code is accepted while the server's step is within
    one of it, so a code of the step read at a test's start stays valid for 30 s or more
    whenever the test starts: no waiting for a fresh step)."""
    return totp.code_for_step(secret, step)
