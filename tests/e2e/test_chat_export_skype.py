"""Chat messages from both sources in one export: a Skype export uploaded through
``POST /api/upload`` (samples/skype.py) and chat-widget messages posted through
``POST /client/chats``, both of the same tenant; deleting the Skype export takes its
messages out of later exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from samples.chats import chat_messages
from samples.skype import write_export
from tests.e2e.chat_helpers import read_workbook
from tests.e2e.skype_helpers import register_skype_user, upload

SKYPE_MESSAGES = 400


@pytest.fixture(scope="module")
def skype_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("skype-chats") / "messages.json"
    truth = write_export(path, SKYPE_MESSAGES, seed=17, bare=True)
    return path, truth.to_dict()


async def test_skype_and_widget_messages_export_together(
    gateway_client: httpx.AsyncClient, skype_json: tuple[Path, dict[str, Any]]
) -> None:
    gw = gateway_client
    path, truth = skype_json
    user = await register_skype_user(gw, "both")
    uploaded = await upload(gw, user, path.read_bytes(), filename="messages.json")
    assert uploaded.status_code == 200, uploaded.text
    export_id = uploaded.json()["export_id"]
    assert uploaded.json()["message_count"] == truth["message_count"]
    # Thread events (category "system": members added, topics changed) are no chat.
    skype_count = truth["message_count"] - truth["categories"].get("system", 0)

    widget = chat_messages(25, seed=5)
    for sample in widget:
        posted = await gw.post(
            "/client/chats",
            json=sample.body,
            headers={**user.headers, "X-Forwarded-For": sample.address.ip},
        )
        assert posted.status_code == 201, posted.text

    response = await gw.get(
        "/client/export/chats/download",
        params={"format": "json", "include_geo": "true", "include_meta": "true"},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    document = response.json()
    messages = document["messages"]
    assert document["export_info"]["total_records"] == len(messages) == skype_count + 25
    skype = [m for m in messages if m["id"].startswith(f"skype-{export_id}-")]
    assert len(skype) == skype_count
    chats = [m for m in messages if not m["id"].startswith("skype-")]
    assert sorted(m["message"] for m in chats) == sorted(s.body["message"] for s in widget)
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps, reverse=True)
    conversations = truth["conversations"]
    for message in skype:
        assert message["conversation_id"] in conversations
        assert message["from_name"]
        assert message["user_ip"] is None
        assert message["is_embed_user"] is False
        assert message["geo_data"]["ip_type"] is None
        participants = conversations[message["conversation_id"]]["participants"]
        assert message["meta_data"]["from_user_id"] in participants
        assert message["meta_data"]["created_at"] is not None
    senders = {m["meta_data"]["from_user_id"] for m in skype}
    summary = document["summary"]
    assert summary["total_messages"] == skype_count + 25
    assert summary["unique_users"] == len(senders) + len({s.body["session_id"] for s in widget})
    assert summary["total_tokens"] == sum(s.body["token_cost"] for s in widget)
    # Only widget messages carry an IP, so only they count by IP type.
    assert sum(summary["ip_type_breakdown"].values()) == sum(1 for s in widget if s.address.ip_type)

    workbook = await gw.get(
        "/client/export/chats/download", params={"format": "excel"}, headers=user.headers
    )
    assert read_workbook(workbook.content)["Chat Messages"].max_row == skype_count + 26

    deleted = await gw.delete(f"/api/exports/{export_id}", headers=user.headers)
    assert deleted.status_code == 200, deleted.text
    after = await gw.get("/client/export/chats/download", headers=user.headers)
    assert after.json()["export_info"]["total_records"] == 25
