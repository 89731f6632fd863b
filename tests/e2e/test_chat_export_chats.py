"""Chat-widget ingestion through the gateway (``POST /client/chats`` and its batch form):
what is stored, which address counts, who may post, sizes and bad input. Read back
through the export, as a tenant would."""

from __future__ import annotations

from typing import Any

import httpx

from samples.chats import BY_IP, chat_messages
from tests.e2e.chat_helpers import api_key, fresh_ip, new_user, post_samples

BODY = {
    "message": "How can I contact support?",
    "reply": "You can contact us at support@example.com.",
    "conversation_id": "conv_12345",
    "session_id": "sess_67890",
    "token_cost": 150,
    "is_embed_user": True,
}


async def exported(gw: httpx.AsyncClient, headers: dict[str, str], **params: str) -> Any:
    response = await gw.get(
        "/client/export/chats/download",
        params={"format": "json", "include_geo": "true", "include_meta": "true", **params},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_message_is_stored_with_the_gateway_s_address_and_its_geolocation(
    gateway_client: httpx.AsyncClient,
) -> None:
    gw = gateway_client
    user = await new_user(gw)
    key = await api_key(gw, user, ["chat"])
    posted = await gw.post(
        "/client/chats",
        json=BODY,
        headers={
            "X-API-Key": key,
            # The tests are the gateway's trusted proxy: this is the client's address...
            "X-Forwarded-For": "81.2.69.142",
            # ...and these, sent by the client, count for nothing.
            "X-Real-IP": "8.8.8.8",
            "Forwarded": "for=8.8.8.8",
            "User-Agent": "Mozilla/5.0 (test widget)",
            "Referer": "https://example.com/help",
        },
    )
    assert posted.status_code == 201, posted.text
    answer = posted.json()
    assert answer["success"] is True
    assert answer["duplicate"] is False
    assert (answer["ip_type"], answer["country_code"]) == ("Residential", "GB")

    document = await exported(gw, user.headers)
    [message] = document["messages"]
    assert message["id"] == answer["id"]
    assert message["message"] == BODY["message"]
    assert message["reply"] == BODY["reply"]
    assert message["from_name"] == "Embed User"
    assert message["token_cost"] == 150
    assert message["user_agent"] == "Mozilla/5.0 (test widget)"
    assert message["referrer"] == "https://example.com/help"
    assert message["user_ip"] == "81.2.69.0"
    assert message["geo_data"]["country"] == "United Kingdom"
    assert message["geo_data"]["isp"] == "Andrews & Arnold Ltd"
    assert message["geo_data"]["city"] is None  # GeoLite2 country data has no cities
    assert message["meta_data"]["client_id"] == user.client_id


async def test_the_batch_form_with_addresses_of_every_kind(
    gateway_client: httpx.AsyncClient,
) -> None:
    gw = gateway_client
    user = await new_user(gw)
    key = await api_key(gw, user, ["chat"])
    samples = chat_messages(120, seed=7)
    ids = await post_samples(gw, key, samples, size=50)
    assert len(set(ids)) == 120
    document = await exported(gw, user.headers, limit="1000")
    assert document["export_info"]["total_records"] == 120
    by_id = {m["id"]: m for m in document["messages"]}
    for sample, message_id in zip(samples, ids, strict=True):
        message = by_id[message_id]
        address = BY_IP[sample.address.ip]
        assert message["message"] == sample.body["message"]
        assert message["user_ip"] == address.anonymised
        geo = message["geo_data"]
        assert (geo["country_code"], geo["isp"], geo["ip_type"]) == (
            address.country_code,
            address.isp,
            address.ip_type,
        )
    kinds = {m["geo_data"]["ip_type"] for m in document["messages"]}
    assert {"Residential", "Mobile", "Datacenter", "Private"} <= kinds


async def test_a_message_sent_again_is_stored_once(gateway_client: httpx.AsyncClient) -> None:
    gw = gateway_client
    user = await new_user(gw)
    key = await api_key(gw, user, ["chat"])
    headers = {"X-API-Key": key, "X-Forwarded-For": "24.0.0.1"}
    body = {**BODY, "message_id": "widget-msg-1"}
    first = await gw.post("/client/chats", json=body, headers=headers)
    again = await gw.post("/client/chats", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    batch = await gw.post(
        "/client/chats/batch",
        json={"messages": [body, {**BODY, "message_id": "widget-msg-2"}]},
        headers=headers,
    )
    assert batch.status_code == 201, batch.text
    assert (batch.json()["accepted"], batch.json()["duplicates"]) == (1, 1)
    assert batch.json()["ids"][0] == first.json()["id"]
    document = await exported(gw, user.headers)
    assert document["export_info"]["total_records"] == 2


async def test_who_may_post(gateway_client: httpx.AsyncClient) -> None:
    gw = gateway_client
    anonymous = await gw.post("/client/chats", json=BODY)
    assert anonymous.status_code == 401
    assert anonymous.json()["error_code"] == "unauthorized"
    user = await new_user(gw)
    reader = await api_key(gw, user, ["read"])
    refused = await gw.post("/client/chats", json=BODY, headers={"X-API-Key": reader})
    assert refused.status_code == 403
    assert "chat or write" in refused.json()["message"]
    # A widget's key posts messages and does nothing else: it cannot export them.
    widget = await api_key(gw, user, ["chat"])
    assert (
        await gw.post("/client/chats", json=BODY, headers={"X-API-Key": widget})
    ).status_code == 201
    export = await gw.get("/client/export/chats/download", headers={"X-API-Key": widget})
    assert export.status_code == 403
    # The tenant's own login (Bearer) posts too, into the same tenant.
    own = await gw.post("/client/chats", json=BODY, headers=user.headers)
    assert own.status_code == 201
    other = await new_user(gw)
    assert (await exported(gw, other.headers))["messages"] == []
    assert (await exported(gw, user.headers))["export_info"]["total_records"] == 2


async def test_bad_input_is_refused_with_the_reason(gateway_client: httpx.AsyncClient) -> None:
    gw = gateway_client
    user = await new_user(gw)
    key = await api_key(gw, user, ["chat"])
    headers = {"X-API-Key": key, "X-Forwarded-For": fresh_ip()}
    cases: list[tuple[Any, str]] = [
        ({k: v for k, v in BODY.items() if k != "message"}, "message: Field required"),
        ({**BODY, "message": "x" * 10_001}, "message: String should have at most 10000"),
        ({**BODY, "message": ""}, "message: String should have at least 1"),
        ({**BODY, "token_cost": -1}, "token_cost: Input should be greater than or equal to 0"),
        ({**BODY, "token_cost": "150"}, "token_cost: Input should be a valid integer"),
        ({**BODY, "is_embed_user": "yes"}, "is_embed_user: Input should be a valid boolean"),
        ({**BODY, "user_ip": "1.2.3.4"}, "user_ip: Extra inputs are not permitted"),
        ({**BODY, "conversation_id": "c" * 129}, "conversation_id: String should have at most"),
        ({**BODY, "timestamp": "2999-01-01T00:00:00Z"}, "timestamp is in the future"),
        ([BODY], "Input should be a valid dictionary"),
    ]
    for body, reason in cases:
        response = await gw.post("/client/chats", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        error = response.json()
        assert error["error_code"] == "invalid_request"
        assert reason in error["message"], (reason, error)
    broken = await gw.post(
        "/client/chats",
        content=b'{"message": ',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["message"] == "Invalid chat message: the body is not valid JSON"
    huge = await gw.post("/client/chats", json={**BODY, "reply": "r" * 300_000}, headers=headers)
    assert huge.status_code == 413
    batch = await gw.post("/client/chats/batch", json={"messages": [BODY] * 501}, headers=headers)
    assert batch.status_code == 400
    assert batch.json()["message"] == "Invalid chat batch: at most 500 messages at once"
    empty = await gw.post("/client/chats/batch", json={"messages": []}, headers=headers)
    assert empty.status_code == 400
    one_bad = await gw.post(
        "/client/chats/batch",
        json={"messages": [BODY, {**BODY, "token_cost": -5}]},
        headers=headers,
    )
    assert one_bad.status_code == 400
    assert one_bad.json()["details"][0]["loc"] == [1, "token_cost"]
    # Nothing of a refused batch was stored.
    assert (await exported(gw, user.headers))["messages"] == []
