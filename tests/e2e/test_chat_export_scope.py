"""Who exports what, through the gateway: a user their own tenant only (another tenant's
``client_id`` is a 404), an administrator any tenant or all of them; IP addresses
anonymised unless an administrator asks; the audit log, for administrators."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from deploy.platform import RunningPlatform
from samples.chats import ChatSample, chat_messages
from tests.e2e.chat_helpers import (
    Account,
    api_key,
    bootstrap_admin,
    new_admin,
    new_user,
    post_samples,
)


@dataclass
class World:
    alice: Account
    bob: Account
    admin: Account
    alice_samples: list[ChatSample]
    bob_samples: list[ChatSample]


@pytest.fixture(scope="module")
async def world(platform: RunningPlatform) -> World:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as gw:
        alice, bob = await new_user(gw, "alice"), await new_user(gw, "bob")
        admin = await new_admin(gw, await bootstrap_admin(gw, platform))
        alice_samples = chat_messages(30, seed=101, prefix="alice")
        bob_samples = chat_messages(20, seed=202, prefix="bob")
        await post_samples(gw, await api_key(gw, alice, ["chat"]), alice_samples)
        await post_samples(gw, await api_key(gw, bob, ["chat"]), bob_samples)
    return World(alice, bob, admin, alice_samples, bob_samples)


async def export(gw: httpx.AsyncClient, who: Account, **params: str) -> httpx.Response:
    return await gw.get(
        "/client/export/chats/download",
        params={"format": "json", "limit": "100000", **params},
        headers=who.headers,
    )


def conversations(response: httpx.Response) -> set[str]:
    return {m["conversation_id"].split("_")[0] for m in response.json()["messages"]}


async def test_a_user_exports_their_own_tenant_only(
    gateway_client: httpx.AsyncClient, world: World
) -> None:
    gw = gateway_client
    own = await export(gw, world.alice)
    assert own.status_code == 200
    assert own.json()["export_info"]["total_records"] == 30
    assert conversations(own) == {"alice"}
    named = await export(gw, world.alice, client_id=world.alice.client_id)
    assert named.json()["export_info"]["total_records"] == 30
    for response in (
        await export(gw, world.alice, client_id=world.bob.client_id),
        await gw.post(
            "/client/export/chats",
            json={"client_id": world.bob.client_id},
            headers=world.alice.headers,
        ),
        await export(gw, world.alice, client_id="no-such-client"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error_code"] == "not_found"
        assert response.json()["message"] == "Client not found"


async def test_an_admin_exports_any_tenant_or_all(
    gateway_client: httpx.AsyncClient, world: World
) -> None:
    gw = gateway_client
    bob = await export(gw, world.admin, client_id=world.bob.client_id)
    assert bob.status_code == 200
    assert bob.json()["export_info"]["client_id"] == world.bob.client_id
    assert bob.json()["export_info"]["total_records"] == 20
    assert conversations(bob) == {"bob"}
    everyone = await export(gw, world.admin, include_meta="true")
    assert everyone.status_code == 200
    info = everyone.json()["export_info"]
    assert info["client_id"] is None
    clients = {m["meta_data"]["client_id"] for m in everyone.json()["messages"]}
    assert {world.alice.client_id, world.bob.client_id} <= clients
    # An admin's key without the admin permission is one tenant's member like any other.
    narrow = await api_key(gw, world.admin, ["export"])
    scoped = await gw.get(
        "/client/export/chats/download",
        params={"client_id": world.bob.client_id},
        headers={"X-API-Key": narrow},
    )
    assert scoped.status_code == 404


async def test_ips_are_anonymised_unless_an_admin_asks(
    gateway_client: httpx.AsyncClient, world: World
) -> None:
    gw = gateway_client
    recorded = {s.body["timestamp"][:19]: s.address for s in world.alice_samples}

    def ips(response: httpx.Response) -> list[tuple[str, str]]:
        return [(m["timestamp"][:19], m["user_ip"]) for m in response.json()["messages"]]

    as_user = await export(gw, world.alice)
    assert all(ip == recorded[t].anonymised for t, ip in ips(as_user))
    as_admin = await export(gw, world.admin, client_id=world.alice.client_id)
    assert all(ip == recorded[t].anonymised for t, ip in ips(as_admin))
    full = await export(gw, world.admin, client_id=world.alice.client_id, include_full_ip="true")
    assert all(ip == recorded[t].ip for t, ip in ips(full))
    assert any(not ip.endswith(".0") for _, ip in ips(full) if "." in ip)
    refused = await export(gw, world.alice, include_full_ip="true")
    assert refused.status_code == 403
    assert refused.json()["message"] == "Full IP addresses are available to administrators only"
    workbook = await gw.get(
        "/client/export/chats/download",
        params={"format": "excel", "client_id": world.alice.client_id, "include_full_ip": "true"},
        headers=world.admin.headers,
    )
    assert workbook.status_code == 200


async def test_kept_exports_belong_to_who_made_them(
    gateway_client: httpx.AsyncClient, world: World
) -> None:
    gw = gateway_client
    made = await gw.post("/client/export/chats", json={"format": "json"}, headers=world.bob.headers)
    assert made.status_code == 200, made.text
    url = made.json()["download_url"]
    assert (await gw.get(url, headers=world.alice.headers)).status_code == 404
    assert (await gw.get(url, headers=world.admin.headers)).status_code == 200
    assert (await gw.get(url, headers=world.bob.headers)).json()["export_info"][
        "total_records"
    ] == 20


async def test_the_audit_log_records_every_export_for_admins(
    gateway_client: httpx.AsyncClient, world: World
) -> None:
    gw = gateway_client
    carol = await new_user(gw, "carol")
    made = await gw.post(
        "/client/export/chats",
        json={"format": "excel", "date_from": "2024-01-01", "include_geo": True, "limit": 50},
        headers=carol.headers,
    )
    assert made.status_code == 200, made.text
    streamed = await export(gw, carol, conversation_id="c1")
    assert streamed.status_code == 200
    denied = await export(gw, carol, client_id=world.bob.client_id)
    assert denied.status_code == 404

    for who in (carol, world.alice):
        refused = await gw.get("/client/export/audit", headers=who.headers)
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "insufficient_permissions"
    log = await gw.get(
        "/client/export/audit", params={"user_id": carol.user_id}, headers=world.admin.headers
    )
    assert log.status_code == 200, log.text
    entries = log.json()["entries"]
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("download", "denied"),
        ("download", "completed"),
        ("post", "completed"),
    ]
    denial, download, post = entries
    assert denial["filters"]["client_id"] == world.bob.client_id
    assert denial["error"] == "Client not found"
    assert download["filters"]["conversation_id"] == "c1"
    assert (download["format"], download["record_count"]) == ("json", 0)
    assert post["format"] == "excel"
    assert post["filters"] == {
        "format": "excel",
        "date_from": "2024-01-01",
        "date_to": None,
        "client_id": None,
        "conversation_id": None,
        "limit": 50,
        "include_geo": True,
        "include_meta": False,
        "include_full_ip": False,
    }
    assert post["export_id"] == made.json()["export_id"]
    assert post["file_size"] == made.json()["file_size"]
    for entry in entries:
        assert entry["user_id"] == carol.user_id
        assert entry["username"] == carol.username
        assert entry["role"] == "user"
        assert entry["requester_client_id"] == carol.client_id
        assert entry["at"].endswith("Z") or "+" in entry["at"]
    denials = await gw.get(
        "/client/export/audit",
        params={"outcome": "denied", "client_id": carol.client_id},
        headers=world.admin.headers,
    )
    assert [e["action"] for e in denials.json()["entries"]] == ["download"]
