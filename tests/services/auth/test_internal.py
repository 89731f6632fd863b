"""The internal contract of docs/DESIGN.md "Identity": JWKS, introspection, revocations."""

import time

import httpx
import jwt
import pytest
from sqlalchemy import select

from services.auth.models import ApiKey, Revocation
from services.auth.service.runtime import AuthRuntime
from shared.identity import Principal
from tests.services.auth.conftest import INTERNAL_TOKEN, AuthDriver, new_account

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


async def test_revocations_feed_resumes_from_its_cursor(
    client: httpx.AsyncClient,
    driver: AuthDriver,
    runtime: AuthRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``?since=<cursor>`` answers only what was revoked after the previous poll (plus
    the configured overlap, 0 here), so a poller does not re-read the whole list."""
    monkeypatch.setattr(runtime.settings, "revocation_feed_overlap_seconds", 0.0)
    headers = await driver.token(await driver.register())
    first = await client.post("/auth/api-keys/generate", json={"name": "a"}, headers=headers)
    second = await client.post("/auth/api-keys/generate", json={"name": "b"}, headers=headers)
    first_id, second_id = (r.json()["key_info"]["id"] for r in (first, second))
    assert (await client.delete(f"/auth/api-keys/{first_id}", headers=headers)).status_code == 200
    poll = (await client.get("/internal/revocations", headers=INTERNAL)).json()
    assert f"key:{first_id}" in {e["handle"] for e in poll["revoked"]}
    assert poll["cursor"] == poll["as_of"]

    assert (await client.delete(f"/auth/api-keys/{second_id}", headers=headers)).status_code == 200
    nxt = await client.get(
        "/internal/revocations", params={"since": poll["cursor"]}, headers=INTERNAL
    )
    assert nxt.status_code == 200
    assert [e["handle"] for e in nxt.json()["revoked"]] == [f"key:{second_id}"]
    assert nxt.json()["cursor"] >= poll["cursor"]
    # Nothing new: an empty answer, and the cursor moves on.
    empty = (
        await client.get(
            "/internal/revocations", params={"since": nxt.json()["cursor"]}, headers=INTERNAL
        )
    ).json()
    assert empty["revoked"] == []


async def test_revocations_feed_overlaps_the_cursor(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    """With the default overlap a poll repeats recent entries: a revocation committed
    just after a poll that its own timestamp predates is still delivered."""
    headers = await driver.token(await driver.register())
    created = await client.post("/auth/api-keys/generate", json={"name": "a"}, headers=headers)
    key_id = created.json()["key_info"]["id"]
    assert (await client.delete(f"/auth/api-keys/{key_id}", headers=headers)).status_code == 200
    poll = (await client.get("/internal/revocations", headers=INTERNAL)).json()
    again = (
        await client.get(
            "/internal/revocations", params={"since": poll["cursor"]}, headers=INTERNAL
        )
    ).json()
    assert f"key:{key_id}" in {e["handle"] for e in again["revoked"]}


async def test_every_kind_of_revocation_is_in_the_feed(
    client: httpx.AsyncClient, driver: AuthDriver
) -> None:
    """Logout, invalidated sessions, a reused refresh token, a revoked key and a
    regenerated Skype key each leave their handle in the feed."""
    account = await driver.register()
    logins = [await driver.login(account) for _ in range(3)]
    sids = [(await driver.introspect("session", r.cookies["session_id"]))["sid"] for r in logins]
    bearers = [{"Authorization": f"Bearer {r.json()['access_token']}"} for r in logins]
    assert (await client.post("/auth/logout", headers=bearers[0])).status_code == 200
    assert (
        await client.post("/auth/invalidate-other-sessions", headers=bearers[1])
    ).status_code == 200

    pair = await client.post(
        "/api/auth/login/", json={"username": account.username, "password": account.password}
    )
    family = jwt.decode(pair.json()["access"], options={"verify_signature": False})["sid"]
    refresh = pair.json()["refresh"]
    assert (await client.post("/api/auth/refresh/", json={"refresh": refresh})).status_code == 200
    assert (await client.post("/api/auth/refresh/", json={"refresh": refresh})).status_code == 401

    key = await client.post("/auth/api-keys/generate", json={"name": "k"}, headers=bearers[1])
    key_id = key.json()["key_info"]["id"]
    assert (await client.delete(f"/auth/api-keys/{key_id}", headers=bearers[1])).status_code == 200

    skype = new_account()
    registered = await client.post(
        "/api/register",
        json={
            "username": skype.username,
            "email": skype.email,
            "password": skype.password,
            "display_name": "S",
        },
    )
    old_key = registered.json()["api_key"]
    old_sid = (await driver.introspect("api_key", old_key))["sid"]
    regenerated = await client.post(
        "/api/regenerate-api-key", headers=await driver.bearer("api_key", old_key)
    )
    assert regenerated.status_code == 200

    feed = (await client.get("/internal/revocations", headers=INTERNAL)).json()
    handles = {e["handle"] for e in feed["revoked"]}
    assert {sids[0], sids[2], family, f"key:{key_id}", old_sid} <= handles
    assert sids[1] not in handles  # the session that stayed is not listed


async def test_a_revocation_published_at_once_is_marked_so(
    client: httpx.AsyncClient, driver: AuthDriver, runtime: AuthRuntime
) -> None:
    """With Redis up the relay has nothing left to do for it."""
    headers = await driver.token(await driver.register())
    created = await client.post("/auth/api-keys/generate", json={"name": "k"}, headers=headers)
    key_id = created.json()["key_info"]["id"]
    assert (await client.delete(f"/auth/api-keys/{key_id}", headers=headers)).status_code == 200
    async with runtime.sessions() as db:
        published = (
            await db.execute(
                select(Revocation.published_at).where(Revocation.handle == f"key:{key_id}")
            )
        ).scalar_one()
    assert published is not None
