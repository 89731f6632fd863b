"""The three formats through the gateway, against the samples' ground truth: the JSON
structure field by field, the workbook read back (sheets, headers, typed cells, frozen
header, filters, formula-looking text kept as text), the ZIP's two members; filters,
kept files, their expiry; the first bytes leaving before the export is complete."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deploy.platform import RunningPlatform
from samples.chats import ADDRESSES, FORMULAS, ChatSample, ChatTruth, chat_messages
from tests.e2e.chat_helpers import (
    Account,
    api_key,
    bootstrap_admin,
    new_user,
    post_samples,
    read_workbook,
    read_zip,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MESSAGE_KEYS = [
    "id",
    "from_name",
    "message",
    "reply",
    "timestamp",
    "conversation_id",
    "token_cost",
    "user_ip",
    "user_agent",
    "referrer",
    "session_id",
    "is_embed_user",
]
GEO_KEYS = [
    "country",
    "country_code",
    "region",
    "region_name",
    "city",
    "latitude",
    "longitude",
    "timezone",
    "isp",
    "organization",
    "ip_type",
]
META_KEYS = ["created_at", "client_id", "from_user_id", "user_name", "user_email"]
HEADERS = [
    "ID",
    "From",
    "Message",
    "Reply",
    "Timestamp (UTC)",
    "Conversation ID",
    "Token Cost",
    "User IP",
    "User Agent",
    "Referrer",
    "Session ID",
    "Embed User",
]
GEO_HEADERS = ["Country", "Country Code", "ISP", "Organization", "IP Type"]
META_HEADERS = ["Created At (UTC)", "Client ID", "From User ID", "User Name", "User Email"]
COUNT = 240


@dataclass
class Tenant:
    user: Account
    samples: list[ChatSample]

    @property
    def truth(self) -> ChatTruth:
        return ChatTruth.of(self.samples)

    def by_time(self) -> dict[str, ChatSample]:
        return {iso(s.sent_at): s for s in self.samples}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
async def tenant(platform: RunningPlatform) -> Tenant:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as gw:
        user = await new_user(gw, "fmt")
        key = await api_key(gw, user, ["chat"])
        # Three hours apart: 240 messages span 30 days from 2024-01-01 08:00.
        samples = chat_messages(COUNT, seed=11, step_seconds=3 * 3600)
        await post_samples(gw, key, samples, size=100)
    return Tenant(user, samples)


async def download(gw: httpx.AsyncClient, who: Account, **params: str) -> httpx.Response:
    response = await gw.get("/client/export/chats/download", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response


def check_summary(summary: dict[str, Any], truth: ChatTruth) -> None:
    assert list(summary) == [
        "total_messages",
        "total_tokens",
        "unique_users",
        "date_range",
        "top_countries",
        "top_isps",
        "ip_type_breakdown",
        "conversation_stats",
    ]
    assert summary["total_messages"] == truth.total_messages
    assert summary["total_tokens"] == truth.total_tokens
    assert summary["unique_users"] == truth.unique_users
    top = sorted(truth.countries.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert summary["top_countries"] == [{"country": c, "count": n} for c, n in top]
    isps = sorted(truth.isps.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert summary["top_isps"] == [{"isp": i, "count": n} for i, n in isps]
    assert summary["ip_type_breakdown"] == dict(truth.ip_types)
    assert summary["conversation_stats"] == {
        "total_conversations": truth.conversations,
        "avg_messages_per_conversation": round(truth.total_messages / truth.conversations, 2),
        "longest_conversation": truth.longest_conversation,
    }


async def test_json_has_the_spec_s_structure_field_by_field(
    gateway_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await download(
        gateway_client, tenant.user, format="json", include_geo="true", include_meta="true"
    )
    assert response.headers["content-type"] == "application/json"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="chat_export_')
    assert disposition.endswith('.json"')
    assert response.headers["x-export-records"] == str(COUNT)
    document = response.json()
    assert list(document) == ["export_info", "messages", "summary"]
    info = document["export_info"]
    assert list(info) == [
        "export_date",
        "total_records",
        "date_range",
        "client_id",
        "format",
        "include_geo",
        "include_meta",
    ]
    exported_at = datetime.fromisoformat(info["export_date"].replace("Z", "+00:00"))
    assert abs(exported_at - datetime.now(UTC)) < timedelta(minutes=10)
    assert info["total_records"] == COUNT
    first, last = tenant.samples[0].sent_at, tenant.samples[-1].sent_at
    assert info["date_range"] == f"{first.date()} to {last.date()}"
    assert (info["client_id"], info["format"]) == (tenant.user.client_id, "json")
    assert (info["include_geo"], info["include_meta"]) == (True, True)

    messages = document["messages"]
    assert len(messages) == COUNT
    assert [m["timestamp"] for m in messages] == [iso(s.sent_at) for s in tenant.samples[::-1]]
    samples = tenant.by_time()
    for message in messages:
        assert list(message) == [*MESSAGE_KEYS, "geo_data", "meta_data"]
        sample = samples[message["timestamp"]]
        body, address = sample.body, sample.address
        assert message["message"] == body["message"]
        assert message["reply"] == body["reply"]
        assert message["conversation_id"] == body["conversation_id"]
        assert message["session_id"] == body["session_id"]
        assert message["token_cost"] == body["token_cost"]
        assert message["user_agent"] == body["user_agent"]
        assert message["referrer"] == body["referrer"]
        assert message["is_embed_user"] is body["is_embed_user"]
        assert message["from_name"] == body.get("from_name", "Embed User")
        assert message["user_ip"] == address.anonymised
        geo = message["geo_data"]
        assert list(geo) == GEO_KEYS
        assert (geo["country"], geo["country_code"]) == (address.country, address.country_code)
        assert (geo["isp"], geo["organization"]) == (address.isp, address.isp)
        assert geo["ip_type"] == address.ip_type
        # GeoLite2 country data knows no region, city, coordinates or time zone.
        for unknown in ("region", "region_name", "city", "latitude", "longitude", "timezone"):
            assert geo[unknown] is None
        meta = message["meta_data"]
        assert list(meta) == META_KEYS
        assert meta["client_id"] == tenant.user.client_id
        assert meta["from_user_id"] == body.get("from_user_id")
        assert meta["user_name"] == body.get("user_name")
        assert meta["user_email"] == body.get("user_email")
        assert meta["created_at"].endswith("Z")
    check_summary(document["summary"], tenant.truth)
    assert document["summary"]["date_range"] == info["date_range"]


async def test_geo_and_meta_only_when_asked(
    gateway_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    document = (await download(gateway_client, tenant.user, limit="5")).json()
    assert document["export_info"]["include_geo"] is False
    assert all(list(m) == MESSAGE_KEYS for m in document["messages"])
    only_geo = (await download(gateway_client, tenant.user, limit="5", include_geo="true")).json()
    assert all(list(m) == [*MESSAGE_KEYS, "geo_data"] for m in only_geo["messages"])


async def test_dates_conversation_and_limit(
    gateway_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    gw, user = gateway_client, tenant.user
    days = (await download(gw, user, date_from="2024-01-10", date_to="2024-01-12")).json()
    expected = [
        s for s in tenant.samples if "2024-01-10" <= s.sent_at.date().isoformat() <= "2024-01-12"
    ]
    assert days["export_info"]["total_records"] == len(expected) == 24
    assert days["export_info"]["date_range"] == "2024-01-10 to 2024-01-12"
    assert {m["timestamp"] for m in days["messages"]} == {iso(s.sent_at) for s in expected}
    # Date-times: both ends inclusive.
    start, end = tenant.samples[10].sent_at, tenant.samples[20].sent_at
    window = (await download(gw, user, date_from=iso(start), date_to=iso(end))).json()
    assert window["export_info"]["total_records"] == 11
    conversation = tenant.samples[40].body["conversation_id"]
    chosen = (await download(gw, user, conversation_id=conversation)).json()
    assert {m["conversation_id"] for m in chosen["messages"]} == {conversation}
    assert len(chosen["messages"]) == sum(
        1 for s in tenant.samples if s.body["conversation_id"] == conversation
    )
    newest = (await download(gw, user, limit="7")).json()
    assert [m["timestamp"] for m in newest["messages"]] == [
        iso(s.sent_at) for s in tenant.samples[-1:-8:-1]
    ]
    assert newest["summary"]["total_messages"] == 7
    assert newest["export_info"]["total_records"] == 7
    assert newest["export_info"]["date_range"] == (
        f"{tenant.samples[-7].sent_at.date()} to {tenant.samples[-1].sent_at.date()}"
    )


async def test_the_workbook_reads_back_typed(
    gateway_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await download(
        gateway_client, tenant.user, format="excel", include_geo="true", include_meta="true"
    )
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"].endswith('.xlsx"')
    book = read_workbook(response.content)
    assert book.sheetnames == ["Chat Messages", "Summary"]
    sheet = book["Chat Messages"]
    header = [c.value for c in sheet[1]]
    assert header == HEADERS + GEO_HEADERS + META_HEADERS
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:V{COUNT + 1}"
    assert sheet.max_row == COUNT + 1
    rows = list(sheet.iter_rows(min_row=2))
    samples = tenant.by_time()
    formulas_seen = 0
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        when = cells["Timestamp (UTC)"]
        assert when.is_date
        sample = samples[iso(when.value.replace(tzinfo=UTC))]
        assert cells["Token Cost"].data_type == "n"
        assert cells["Token Cost"].value == sample.body["token_cost"]
        assert cells["Embed User"].data_type == "b"
        assert cells["Embed User"].value is sample.body["is_embed_user"]
        assert cells["Created At (UTC)"].is_date
        assert cells["Country Code"].value == sample.address.country_code
        assert cells["User IP"].value == sample.address.anonymised
        message = cells["Message"]
        assert message.data_type == "s"
        assert message.hyperlink is None
        if sample.body["message"] in FORMULAS:
            formulas_seen += 1
            # Neutralised: a leading quote, and a string cell, never a formula.
            assert message.value == "'" + sample.body["message"]
        else:
            assert message.value == sample.body["message"]
    assert formulas_seen >= 10
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in sheet_xml
        assert b"<hyperlink" not in sheet_xml
    summary = {
        row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row and row[0]
    }
    truth = tenant.truth
    assert summary["Total messages"] == truth.total_messages
    assert summary["Total tokens"] == truth.total_tokens
    assert summary["Unique users"] == truth.unique_users
    assert summary["Total conversations"] == truth.conversations
    assert summary["Longest conversation (messages)"] == truth.longest_conversation
    top_country, top_count = max(truth.countries.items(), key=lambda item: (item[1], item[0]))
    assert summary[top_country] == top_count


async def test_both_is_a_zip_of_the_json_and_the_workbook(
    gateway_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await download(gateway_client, tenant.user, format="both", include_geo="true")
    assert response.headers["content-type"] == "application/zip"
    filename = response.headers["content-disposition"].split('filename="')[1].rstrip('"')
    stem = filename.removesuffix(".zip")
    members = read_zip(response.content)
    assert sorted(members) == [f"{stem}.json", f"{stem}.xlsx"]
    document = json.loads(members[f"{stem}.json"])
    assert document["export_info"]["format"] == "both"
    assert len(document["messages"]) == COUNT
    check_summary(document["summary"], tenant.truth)
    book = read_workbook(members[f"{stem}.xlsx"])
    assert book.sheetnames == ["Chat Messages", "Summary"]
    sheet = book["Chat Messages"]
    assert [c.value for c in sheet[1]] == HEADERS + GEO_HEADERS
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == [m["id"] for m in document["messages"]]


async def test_a_kept_export_downloads_until_it_expires(
    gateway_client: httpx.AsyncClient, tenant: Tenant, platform: RunningPlatform
) -> None:
    gw = gateway_client
    created = await gw.post(
        "/client/export/chats",
        json={"format": "excel", "include_geo": True, "limit": 100},
        headers=tenant.user.headers,
    )
    assert created.status_code == 200, created.text
    answer = created.json()
    assert answer["success"] is True
    assert answer["message"] == "Export generated successfully"
    assert answer["record_count"] == 100
    assert answer["download_url"] == f"/client/export/chats/{answer['export_id']}/download"
    info = await gw.get(f"/client/export/chats/{answer['export_id']}", headers=tenant.user.headers)
    assert info.status_code == 200
    assert info.json()["file_size"] == answer["file_size"]
    kept = await gw.get(answer["download_url"], headers=tenant.user.headers)
    assert kept.status_code == 200
    assert kept.headers["content-type"] == XLSX
    assert int(kept.headers["content-length"]) == len(kept.content) == answer["file_size"]
    assert kept.headers["content-disposition"] == f'attachment; filename="{answer["filename"]}"'
    assert read_workbook(kept.content)["Chat Messages"].max_row == 101
    # Someone else's kept export is not there for them.
    stranger = await new_user(gw)
    for path in (f"/client/export/chats/{answer['export_id']}", answer["download_url"]):
        assert (await gw.get(path, headers=stranger.headers)).status_code == 404
    assert (
        await gw.get("/client/export/chats/not-a-uuid", headers=stranger.headers)
    ).status_code == 404
    # The sweep, a day and an hour later (the default lifetime is a day).
    later = datetime.fromisoformat(answer["expires_at"].replace("Z", "+00:00"))
    async with httpx.AsyncClient(base_url=platform.service_urls["analysis"]) as analysis:
        swept = await analysis.post(
            "/internal/chat-exports/expire",
            json={"now": (later + timedelta(hours=1)).isoformat()},
            headers={"X-Internal-Token": platform.env["QUARRY_INTERNAL_TOKEN"]},
        )
    assert swept.status_code == 200, swept.text
    assert swept.json()["removed"] >= 1
    gone = await gw.get(answer["download_url"], headers=tenant.user.headers)
    assert gone.status_code == 404
    assert gone.json()["error_code"] == "export_not_found"


async def test_the_first_bytes_leave_before_the_export_is_built(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    """A download too large for every buffer on the way (about 70 MB of JSON): once
    its first bytes are in, its audit record still says the export is running."""
    gw = gateway_client
    user = await new_user(gw, "big")
    key = await api_key(gw, user, ["chat"])
    samples = [
        # One address, so that 500 go in each batch request; replies of about 7 KB.
        ChatSample(ADDRESSES[0], {**s.body, "reply": (s.body["reply"] + " ") * 160})
        for s in chat_messages(10_000, seed=3)
    ]
    await post_samples(gw, key, samples, size=500)
    admin = await bootstrap_admin(gw, platform)
    async with gw.stream(
        "GET",
        "/client/export/chats/download",
        params={"format": "json", "limit": "10000"},
        headers=user.headers,
    ) as response:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        first = await chunks.__anext__()
        assert first.startswith(b'{"export_info":')
        request_id = response.headers["x-request-id"]
        audit = await gw.get(
            "/client/export/audit", params={"user_id": user.user_id}, headers=admin.headers
        )
        [entry] = [e for e in audit.json()["entries"] if e["request_id"] == request_id]
        assert (entry["outcome"], entry["finished_at"]) == ("started", None)
        body = bytearray(first)
        async for piece in chunks:
            body += piece
    document = json.loads(body)
    assert len(document["messages"]) == 10_000
    assert len(body) > 60_000_000
    audit = await gw.get(
        "/client/export/audit", params={"user_id": user.user_id}, headers=admin.headers
    )
    [entry] = [e for e in audit.json()["entries"] if e["request_id"] == request_id]
    assert (entry["outcome"], entry["record_count"]) == ("completed", 10_000)
    assert entry["file_size"] == len(body)
    assert Counter(m["conversation_id"] for m in document["messages"]).most_common(1)[0][1] == 4
