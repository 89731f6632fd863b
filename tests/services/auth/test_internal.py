"""The internal contract of docs/DESIGN.md "Identity": JWKS, introspection, revocations."""

import time

import httpx
from sqlalchemy import select

from services.auth.models import ApiKey
from services.auth.service.runtime import AuthRuntime
from shared.identity import Principal
from tests.services.auth.conftest import INTERNAL_TOKEN, AuthDriver

INTERNAL = {"X-Internal-Token": INTERNAL_TOKEN}


async def test_internal_routes_need_the_internal_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/internal/jwks"),
        ("POST", "/internal/introspect"),
        ("GET", "/internal/revocations"),
    ):
        for headers in ({}, {"X-Internal-Token": "wrong"}):
            response = await client.request(
                method, path, headers=headers, json={"kind": "session", "credential": "x"}
            )
            assert response.status_code == 401, (path, headers)


async def test_internal_routes_are_not_in_the_public_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/internal")]
    for public in (
        "/api/register",
        "/api/auth/refresh/",
        "/auth/api-keys/generate",
        "/auth/enable-2fa",
        "/auth/api-keys/{key_id}",
    ):
        assert public in paths


async def test_jwks_publishes_public_ed25519_keys_only(
    client: httpx.AsyncClient, runtime: AuthRuntime
) -> None:
    response = await client.get("/internal/jwks", headers=INTERNAL)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA"
        assert key["use"] == "sig"
        assert "d" not in key
    assert (await runtime.keys.signer()).kid in {k["kid"] for k in keys}


async def test_introspection_answers(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    account = await driver.register()
    login = await driver.login(account)
    answer = await driver.introspect("session", login.cookies["session_id"])
    assert set(answer) == {"active", "access_token", "expires_in", "sid", "principal"}
    assert 0 < answer["expires_in"] <= runtime.settings.introspection_token_ttl_seconds
    principal = Principal.from_claims(answer["principal"])
    assert principal.user_id == account.user_id
    assert principal.session_id == answer["sid"]
    verified = await runtime.verifier.verify(answer["access_token"])
    assert verified == principal
    for kind, credential in (
        ("session", "no-such-session"),
        ("api_key", "no-such-key"),
        ("api_key", "pk_abcdefgh_" + "x" * 43),
        ("api_key", login.cookies["session_id"]),  # a session id is not an API key
        ("session", answer["access_token"]),
    ):
        assert (await driver.introspect(kind, credential)) == {"active": False}


async def test_right_prefix_wrong_secret_is_inactive(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    headers = await driver.token(await driver.register())
    key = (
        await client.post(
            "/auth/api-keys/generate", json={"name": "k", "permissions": ["read"]}, headers=headers
        )
    ).json()["api_key"]
    forged = key[:12] + ("A" if key[12] != "A" else "B") + key[13:]
    assert (await driver.introspect("api_key", forged)) == {"active": False}
    assert (await driver.introspect("api_key", "sk" + key[2:])) == {"active": False}


async def test_bad_introspection_requests_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/introspect", json={"kind": "password", "credential": "x"}, headers=INTERNAL
    )
    assert response.status_code == 422


async def test_last_used_is_not_written_on_every_use(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    headers = await driver.token(await driver.register())
    created = (
        await client.post(
            "/auth/api-keys/generate", json={"name": "k", "permissions": ["read"]}, headers=headers
        )
    ).json()

    async def last_used() -> object:
        async with runtime.sessions() as session:
            return (
                await session.execute(
                    select(ApiKey.last_used_at).where(ApiKey.id == created["key_info"]["id"])
                )
            ).scalar_one()

    assert await last_used() is None
    await driver.introspect("api_key", created["api_key"])
    first = await last_used()
    assert first is not None
    await driver.introspect("api_key", created["api_key"])
    assert await last_used() == first  # within the touch interval: no write


async def test_revocations_feed_lists_revoked_handles(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    account = await driver.register()
    login = await driver.login(account)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    sid = (await driver.introspect("session", login.cookies["session_id"]))["sid"]
    assert (await client.post("/auth/logout", headers=headers)).status_code == 200
    feed = (await client.get("/internal/revocations", headers=INTERNAL)).json()
    until = {entry["handle"]: entry["until"] for entry in feed["revoked"]}
    assert sid in until
    assert until[sid] > time.time()
    assert abs(feed["as_of"] - time.time()) < 5
