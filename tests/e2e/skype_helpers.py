"""Shared steps of the Skype end-to-end tests (tests/e2e/test_skype_*.py), through the
gateway only, as the spec's clients do."""

from __future__ import annotations

import asyncio
import io
import json
import random
import secrets
import tarfile
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.polling import poll_json

PASSWORD = "Str0ng_Pass!"


@dataclass
class SkypeUser:
    username: str
    api_key: str
    ip: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key, "X-Forwarded-For": self.ip}


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def register_skype_user(gw: httpx.AsyncClient, stem: str = "sky") -> SkypeUser:
    username = f"{stem}{secrets.token_hex(5)}"
    ip = random_ip()
    response = await gw.post(
        "/api/register",
        json={
            "username": username,
            "password": PASSWORD,
            "email": f"{username}@example.com",
            "display_name": f"{stem.title()} {username[-4:]}",
        },
        headers={"X-Forwarded-For": ip},
    )
    assert response.status_code == 200, response.text
    return SkypeUser(username=username, api_key=response.json()["api_key"], ip=ip)


def tiny_export(messages: int = 3) -> dict[str, Any]:
    """A minimal messages.json as Skype writes it (one 1:1 conversation)."""
    return {
        "userId": "8:live:.cid.0123456789abcdef",
        "exportDate": "2020-07-06T20:55",
        "conversations": [
            {
                "id": "8:live:.cid.aaaa",
                "displayName": "Ana R",
                "version": 1594056032575,
                "properties": {},
                "threadProperties": None,
                "MessageList": [
                    {
                        "id": str(1594056032374 + i),
                        "displayName": None,
                        "originalarrivaltime": (
                            f"2020-07-06T{17 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.609Z"
                        ),
                        "messagetype": "RichText",
                        "version": 1594056032374 + i,
                        "content": f"hello {i}",
                        "conversationid": "8:live:.cid.aaaa",
                        "from": "8:live:.cid.bbbb" if i % 2 else "8:live:.cid.0123456789abcdef",
                        "properties": None,
                        "amsreferences": None,
                    }
                    for i in range(messages)
                ],
            }
        ],
    }


def json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def tar_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def upload(
    gw: httpx.AsyncClient,
    user: SkypeUser,
    content: bytes,
    *,
    filename: str = "messages.json",
    fields: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = 120,
) -> httpx.Response:
    return await gw.post(
        "/api/upload",
        headers=user.headers,
        files={"file": (filename, content, "application/octet-stream")},
        data=fields or {},
        params=params or {},
        timeout=timeout,
    )


async def wait_for_task(
    gw: httpx.AsyncClient, user: SkypeUser, task_id: str, timeout: float = 120
) -> dict[str, Any]:
    """Poll /api/status until the task is completed or failed (a 429 of the read
    budget, 100 a minute, is waited out: a loaded machine's job outlasts it)."""
    deadline = time.monotonic() + timeout
    while True:
        url = f"/api/status/{task_id}"
        status = await poll_json(gw, url, deadline=deadline, headers=user.headers)
        if status["status"] in ("completed", "failed"):
            return status
        assert time.monotonic() < deadline, f"task not finished in time: {status}"
        await asyncio.sleep(0.5)
