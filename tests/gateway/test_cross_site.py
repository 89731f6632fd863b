"""Cookie-authenticated unsafe requests from another site are refused; SDKs and
curl (no Origin, no Sec-Fetch-Site) and token-authenticated calls are not."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.conftest import Upstreams
from tests.gateway.support import KeyRing


@pytest.fixture
def session_cookie(upstreams: Upstreams) -> str:
    upstreams.auth.grant("cross-site-session", sid="sess-cross-site")
    return "session_id=cross-site-session"


async def test_foreign_origin_with_cookie_is_refused(
    client: httpx.AsyncClient, session_cookie: str
) -> None:
    response = await client.post(
        "/files/convert",
        headers={"Cookie": session_cookie, "Origin": "https://evil.example"},
        json={},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "cross_site_request"
    assert "detail" in response.json()


async def test_cross_site_fetch_metadata_is_refused(
    client: httpx.AsyncClient, session_cookie: str
) -> None:
    response = await client.delete(
        "/files/remove/3", headers={"Cookie": session_cookie, "Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403


async def test_same_origin_and_plain_clients_pass(
    client: httpx.AsyncClient, session_cookie: str
) -> None:
    host = httpx.URL(str(client.base_url)).netloc.decode()
    same = await client.post(
        "/files/convert",
        headers={
            "Cookie": session_cookie,
            "Origin": f"http://{host}",
            "Sec-Fetch-Site": "same-origin",
        },
        json={},
    )
    assert same.status_code == 200
    curl = await client.post("/files/convert", headers={"Cookie": session_cookie}, json={})
    assert curl.status_code == 200


async def test_safe_methods_and_token_auth_are_not_cross_site_checked(
    client: httpx.AsyncClient, session_cookie: str, keyring: KeyRing
) -> None:
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    read = await client.get("/files/download/1", headers={"Cookie": session_cookie, **evil})
    assert read.status_code == 200
    token = await client.post(
        "/files/convert", headers={"Authorization": f"Bearer {keyring.mint()}", **evil}, json={}
    )
    assert token.status_code == 200
