"""The Export spec's limits on its routes, through the gateway: 10 exports a minute per
user, 100 an hour per client (tenant). Refused requests count too: these tests spend
their budget on cheap ones (a bad format answers 400 once the limit lets it through).

The per-client test uses the administrators' tenant (the only one with many accounts)
and gives the tenant's hourly budget back afterwards, so later exports of the session
are unaffected."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from deploy.backing import BackingServices
from deploy.platform import RunningPlatform
from gateway.rate_limit import Rule
from tests.e2e.chat_helpers import Account, bootstrap_admin, new_admin, new_user

BAD = {"format": "nope"}


async def spend(gw: httpx.AsyncClient, who: Account) -> httpx.Response:
    return await gw.get("/client/export/chats/download", params=BAD, headers=who.headers)


async def test_ten_exports_a_minute_per_user(gateway_client: httpx.AsyncClient) -> None:
    gw = gateway_client
    user = await new_user(gw, "lim")
    made = await gw.post("/client/export/chats", json={}, headers=user.headers)
    assert made.status_code == 200, made.text
    assert made.headers["x-ratelimit-limit"] == "10"
    assert made.headers["x-ratelimit-remaining"] == "9"
    for remaining in range(8, -1, -1):
        response = await spend(gw, user)
        assert response.status_code == 400
        assert response.headers["x-ratelimit-remaining"] == str(remaining)
    for request in (
        gw.get("/client/export/chats/download", headers=user.headers),
        gw.post("/client/export/chats", json={}, headers=user.headers),
    ):
        refused = await request
        assert refused.status_code == 429
        body = refused.json()
        assert body["error_code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-ratelimit-limit"] == "10"
        assert refused.headers["x-ratelimit-remaining"] == "0"
    # Fetching a file already made is no new export: it is not refused.
    kept = await gw.get(made.json()["download_url"], headers=user.headers)
    assert kept.status_code == 200
    # Another user of another tenant is not affected.
    other = await new_user(gw, "lim")
    assert (await spend(gw, other)).status_code == 400


async def test_a_hundred_exports_an_hour_per_client(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform, backing: BackingServices
) -> None:
    gw = gateway_client
    first = await new_admin(gw, await bootstrap_admin(gw, platform))
    second = await new_admin(gw, first)
    accounts = [first, second]
    for creator in (first, second):
        accounts += [await new_admin(gw, creator) for _ in range(5)]
    assert len({a.client_id for a in accounts}) == 1  # one tenant, twelve accounts
    client_id = first.client_id
    rule = Rule("export_client", 100, 3600, fail_open=False, per_client=True)
    redis = Redis.from_url(backing.redis_url)
    try:
        spent = 0
        refused: httpx.Response | None = None
        for account in accounts[:-1]:
            for _ in range(10):
                response = await spend(gw, account)
                if response.status_code == 429:
                    refused = response
                    break
                assert response.status_code == 400, response.text
                spent += 1
            if refused is not None:
                break
        # Earlier exports of the session by administrators count in the same hour.
        assert refused is not None
        assert spent <= 100
        assert refused.headers["x-ratelimit-limit"] == "100"
        assert refused.json()["error_code"] == "rate_limited"
        # An account of the tenant that never exported is refused as well.
        fresh = await spend(gw, accounts[-1])
        assert fresh.status_code == 429
        assert fresh.headers["x-ratelimit-limit"] == "100"
        assert int(fresh.headers["retry-after"]) >= 1
        # Other tenants are not.
        assert (await spend(gw, await new_user(gw, "lim"))).status_code == 400
    finally:
        await redis.delete(*rule.keys(f"client:{client_id}"))
        await redis.aclose()
    assert (await spend(gw, accounts[-1])).status_code == 400
