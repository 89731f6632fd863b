"""Shared steps of the chat data and export tests (tests/e2e/test_chat_export_*.py),
through the gateway only, as the Export spec's clients do."""

from __future__ import annotations

import base64
import io
import json
import random
import secrets
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
import openpyxl

from deploy.platform import RunningPlatform
from samples.chats import ChatSample, batches

PASSWORD = "Str0ng_Pass!"


def fresh_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (read, not verified: the test only needs the tenant id)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload))
    return decoded


@dataclass
class Account:
    username: str
    token: str
    role: str

    @property
    def client_id(self) -> str:
        return str(claims(self.token)["cid"])

    @property
    def user_id(self) -> str:
        return str(claims(self.token)["sub"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Forwarded-For": fresh_ip()}


async def login(gw: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await gw.post(
        "/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": fresh_ip()},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def new_user(gw: httpx.AsyncClient, stem: str = "chat") -> Account:
    """A user with a tenant (client) of its own."""
    username = f"{stem}{secrets.token_hex(5)}"
    response = await gw.post(
        "/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": fresh_ip()},
    )
    assert response.status_code == 201, response.text
    return Account(username, await login(gw, username), "user")


async def bootstrap_admin(gw: httpx.AsyncClient, platform: RunningPlatform) -> Account:
    token = await login(gw, platform.admin_username, platform.admin_password)
    return Account(platform.admin_username, token, "admin")


async def new_admin(gw: httpx.AsyncClient, creator: Account, role: str = "admin") -> Account:
    """An administrator (or service account) of the administrators' tenant, with rate
    limit buckets of its own."""
    username = f"adm{secrets.token_hex(5)}"
    response = await gw.post(
        "/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "role": role,
        },
        headers=creator.headers,
    )
    assert response.status_code == 201, response.text
    return Account(username, await login(gw, username), role)


async def api_key(gw: httpx.AsyncClient, owner: Account, permissions: list[str]) -> str:
    response = await gw.post(
        "/auth/api-keys/generate",
        json={"name": f"k{secrets.token_hex(3)}", "permissions": permissions},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    key: str = response.json()["api_key"]
    return key


async def post_samples(
    gw: httpx.AsyncClient, key: str, samples: list[ChatSample], size: int = 200
) -> list[str]:
    """Every sample through ``POST /client/chats/batch``, each batch from its address."""
    ids: list[str] = []
    for address, bodies in batches(samples, size):
        response = await gw.post(
            "/client/chats/batch",
            json={"messages": bodies},
            headers={"X-API-Key": key, "X-Forwarded-For": address.ip},
        )
        assert response.status_code == 201, response.text
        ids += response.json()["ids"]
    return ids


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def read_workbook(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))
