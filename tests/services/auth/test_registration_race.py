"""Concurrent registrations of one name: exactly one wins, the rest get the dialect's
duplicate answer, never a 500 (the unique index decides the race)."""

import asyncio

import httpx
from fastapi import FastAPI

from tests.services.auth.conftest import asgi_client, new_account


async def test_concurrent_duplicates_never_500(auth_app: FastAPI) -> None:
    account = new_account()

    async def attempt(i: int) -> httpx.Response:
        async with asgi_client(auth_app) as c:
            return await c.post(
                "/api/auth/register/",
                json={
                    "username": account.username,
                    "email": f"{i}-{account.email}",
                    "password": account.password,
                },
            )

    responses = await asyncio.gather(*(attempt(i) for i in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    assert all("already exists" in r.json()["detail"] for r in responses if r.status_code == 409)
