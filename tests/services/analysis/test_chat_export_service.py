"""The chat export against the real PostgreSQL, in-process: which rows an export holds
(order, limit, filters, tenants, both sources), IP anonymisation, the SQL summary, and
a failing database."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import pytest_asyncio
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.analysis.errors import ClientNotFound, ExportFailed
from services.analysis.models import ChatExport, ChatMessage, SkypeExport, SkypeMessage
from services.analysis.service.chat_exports import ChatExportService, Requester
from services.analysis.service.export_params import parse_export_params
from services.analysis.settings import AnalysisSettings
from shared.aws import open_s3
from shared.database import session_factory
from shared.errors import Forbidden

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def requester(client: str, *, admin: bool = False) -> Requester:
    return Requester(
        user_id=f"user-{client}",
        username=f"name-{client}",
        role="admin" if admin else "user",
        client_id=client,
        is_admin=admin,
    )


def chat(client: str, i: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "client_id": client,
        "posted_by": "widget",
        "conversation_id": f"c{i % 3}",
        "session_id": f"s{i % 4}",
        "from_name": "Embed User",
        "message": f"message {i}",
        "reply": f"reply {i}",
        "token_cost": 10 * i,
        "user_ip": "81.2.69.142",
        "user_agent": "agent",
        "referrer": "https://example.com",
        "is_embed_user": True,
        "country": "United Kingdom",
        "country_code": "GB",
        "isp": "Andrews & Arnold Ltd",
        "organization": "Andrews & Arnold Ltd",
        "ip_type": "Residential",
        "sent_at": T0 + timedelta(minutes=i),
        "created_at": T0 + timedelta(days=1),
    }
    row.update(values)
    return row


@pytest_asyncio.fixture
async def sessions(db: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    factory = session_factory(db)
    yield factory


@pytest_asyncio.fixture
async def tenant(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    """A tenant with 10 widget messages and a loaded Skype export of 3 messages (plus a
    thread event, and a second export still loading); another tenant with 2 messages."""
    client = f"t-{uuid.uuid4().hex[:8]}"
    other = f"o-{uuid.uuid4().hex[:8]}"
    async with sessions() as session:
        for i in range(10):
            session.add(ChatMessage(**chat(client, i)))
        session.add(ChatMessage(**chat(client, 20, user_ip="2a00:1450:4001::1", token_cost=None)))
        session.add(ChatMessage(**chat(client, 21, user_ip=None, ip_type=None, country=None)))
        for i in range(2):
            session.add(ChatMessage(**chat(other, i)))
        ready = SkypeExport(
            job_id=uuid.uuid4(), client_id=client, status="ready", conversation_count=1
        )
        loading = SkypeExport(job_id=uuid.uuid4(), client_id=client, status="loading")
        session.add_all([ready, loading])
        await session.flush()
        for seq, (category, minutes) in enumerate(
            [("text", 30), ("text", 31), ("media", 32), ("system", 33)]
        ):
            for export in (ready, loading):
                session.add(
                    SkypeMessage(
                        export_id=export.export_id,
                        seq=seq,
                        client_id=client,
                        conversation_id="19:skype",
                        message_id=str(seq),
                        sender_id=f"8:live:{seq % 2}",
                        sender_name=f"Sender {seq % 2}",
                        sent_at=T0 + timedelta(minutes=minutes),
                        category=category,
                        raw_type="RichText",
                        content=f"skype {seq}",
                        deleted=False,
                    )
                )
        await session.commit()
    yield client
    async with sessions() as session:
        await session.execute(delete(ChatMessage).where(ChatMessage.client_id.in_([client, other])))
        await session.execute(delete(SkypeMessage).where(SkypeMessage.client_id == client))
        await session.execute(delete(SkypeExport).where(SkypeExport.client_id == client))
        await session.commit()


def service(
    sessions: async_sessionmaker[AsyncSession], settings: AnalysisSettings, s3: Any = None
) -> ChatExportService:
    return ChatExportService(sessions, s3, settings)


async def export_json(svc: ChatExportService, who: Requester, **raw: Any) -> dict[str, Any]:
    params = parse_export_params({"format": "json", **raw}, max_limit=1000)
    download = await svc.download(who, params)
    body = io.BytesIO()
    async for piece in download.body:
        body.write(piece)
    document: dict[str, Any] = orjson.loads(body.getvalue())
    return document


async def test_both_sources_newest_first_with_the_sql_summary(
    sessions: async_sessionmaker[AsyncSession], analysis_settings: AnalysisSettings, tenant: str
) -> None:
    svc = service(sessions, analysis_settings)
    document = await export_json(svc, requester(tenant), include_geo=True, include_meta=True)
    messages = document["messages"]
    # 12 widget messages + 3 Skype ones of the ready export (no thread event, nothing of
    # the export still loading), no other tenant's.
    assert len(messages) == document["export_info"]["total_records"] == 15
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps, reverse=True)
    skype = [m for m in messages if m["id"].startswith("skype-")]
    assert [m["message"] for m in skype] == ["skype 2", "skype 1", "skype 0"]
    assert skype[0]["from_name"] == "Sender 0"
    assert skype[0]["user_ip"] is None
    assert skype[0]["is_embed_user"] is False
    assert skype[0]["meta_data"]["from_user_id"] == "8:live:0"
    assert skype[0]["meta_data"]["created_at"] is not None  # when the export was loaded
    assert skype[0]["geo_data"]["country"] is None
    summary = document["summary"]
    assert summary["total_messages"] == 15
    assert summary["total_tokens"] == sum(10 * i for i in range(10)) + 210
    # Widget sessions s0..s3, the Skype senders 8:live:0 and 8:live:1.
    assert summary["unique_users"] == 6
    assert summary["top_countries"] == [{"country": "United Kingdom", "count": 11}]
    assert summary["ip_type_breakdown"] == {"Residential": 11}
    assert summary["conversation_stats"] == {
        "total_conversations": 4,
        "avg_messages_per_conversation": 3.75,
        "longest_conversation": 5,  # c0: messages 0, 3, 6, 9 and 21
    }
    assert summary["date_range"] == "2024-03-01 to 2024-03-01"


async def test_filters_limit_and_ip_anonymisation(
    sessions: async_sessionmaker[AsyncSession], analysis_settings: AnalysisSettings, tenant: str
) -> None:
    svc = service(sessions, analysis_settings)
    newest = await export_json(svc, requester(tenant), limit=5)
    assert [m["message"] for m in newest["messages"]] == [
        "skype 2",
        "skype 1",
        "skype 0",
        "message 21",
        "message 20",
    ]
    assert newest["summary"]["total_messages"] == 5
    # The limit cuts: export_info counts what is exported, not what matched.
    assert newest["export_info"]["total_records"] == 5
    assert newest["messages"][4]["user_ip"] == "2a00:1450:4001::"  # last 80 bits zeroed
    assert newest["messages"][3]["user_ip"] is None
    window = await export_json(
        svc,
        requester(tenant),
        date_from="2024-03-01T12:02:00Z",
        date_to="2024-03-01T12:04:00Z",
        conversation_id="c0",
    )
    assert [m["message"] for m in window["messages"]] == ["message 3"]
    assert window["messages"][0]["user_ip"] == "81.2.69.0"  # last octet zeroed
    assert "geo_data" not in window["messages"][0]
    assert "meta_data" not in window["messages"][0]
    admin = await export_json(
        svc, requester("admins", admin=True), client_id=tenant, include_full_ip=True, limit=5
    )
    assert admin["messages"][4]["user_ip"] == "2a00:1450:4001::1"
    assert admin["export_info"]["client_id"] == tenant


async def test_scope_refusals_are_audited(
    sessions: async_sessionmaker[AsyncSession], analysis_settings: AnalysisSettings, tenant: str
) -> None:
    svc = service(sessions, analysis_settings)
    who = requester(f"x-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ClientNotFound):
        await export_json(svc, who, client_id=tenant)
    with pytest.raises(Forbidden):
        await export_json(svc, who, include_full_ip=True)
    entries = await svc.audit_log(
        requester("admins", admin=True),
        limit=10,
        offset=0,
        user_id=who.user_id,
        client_id=None,
        outcome=None,
    )
    assert [(e["outcome"], e["error"]) for e in entries] == [
        ("denied", "Full IP addresses are available to administrators only"),
        ("denied", "Client not found"),
    ]
    assert entries[1]["filters"]["client_id"] == tenant
    with pytest.raises(Forbidden):
        await svc.audit_log(who, limit=10, offset=0, user_id=None, client_id=None, outcome=None)


async def test_a_failing_database_is_export_failed(analysis_settings: AnalysisSettings) -> None:
    dead = create_async_engine(
        "postgresql+asyncpg://nobody:nothing@127.0.0.1:9/none", connect_args={"timeout": 2}
    )
    try:
        svc = service(session_factory(dead), analysis_settings)
        with pytest.raises(ExportFailed) as caught:
            await export_json(svc, requester("t"))
        assert caught.value.message == "Failed to export chats: database connection error"
        assert caught.value.status_code == 503
    finally:
        await dead.dispose()


async def test_a_failing_file_store_is_export_failed(
    sessions: async_sessionmaker[AsyncSession], analysis_settings: AnalysisSettings, tenant: str
) -> None:
    dead = analysis_settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"})
    async with AsyncExitStack() as stack:
        svc = service(sessions, dead, await open_s3(stack, dead))
        params = parse_export_params({"format": "both"}, max_limit=1000)
        with pytest.raises(ExportFailed) as caught:
            await svc.create(requester(tenant), params)
    assert caught.value.message == "Failed to export chats: the file store is unavailable"
    # The live store, and the file is made and kept.
    async with AsyncExitStack() as stack:
        svc = service(sessions, analysis_settings, await open_s3(stack, analysis_settings))
        made = await svc.create(requester(tenant), params)
        assert made["record_count"] == 15
        kept = await svc.download_kept(requester(tenant), made["export_id"])
        data = b"".join([piece async for piece in kept.body])
    assert len(data) == made["file_size"]
    entries = await svc.audit_log(
        requester("admins", admin=True),
        limit=5,
        offset=0,
        user_id=requester(tenant).user_id,
        client_id=None,
        outcome=None,
    )
    assert [(e["action"], e["outcome"]) for e in entries[:3]] == [
        ("download_kept", "completed"),
        ("post", "completed"),
        ("post", "failed"),
    ]
    assert entries[2]["error"] == "Failed to export chats: the file store is unavailable"


class RefusingPuts:
    """The real S3 client, except that writing an object fails (a store that breaks
    while the export is being written)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    async def put_object(self, **_: Any) -> None:
        raise ConnectionError("the store went away")

    async def create_multipart_upload(self, **_: Any) -> None:
        raise ConnectionError("the store went away")


async def test_a_store_failing_mid_export_keeps_nothing(
    sessions: async_sessionmaker[AsyncSession], analysis_settings: AnalysisSettings, tenant: str
) -> None:
    async with AsyncExitStack() as stack:
        s3 = await open_s3(stack, analysis_settings)
        svc = service(sessions, analysis_settings, RefusingPuts(s3))
        params = parse_export_params({"format": "json"}, max_limit=1000)
        with pytest.raises(ExportFailed) as caught:
            await svc.create(requester(tenant), params)
        assert caught.value.message == "Failed to export chats: the file store is unavailable"
        entries = await svc.audit_log(
            requester("admins", admin=True),
            limit=1,
            offset=0,
            user_id=requester(tenant).user_id,
            client_id=None,
            outcome=None,
        )
    assert (entries[0]["outcome"], entries[0]["error"]) == (
        "failed",
        "Failed to export chats: the file store is unavailable",
    )
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(ChatExport).where(ChatExport.requested_by == requester(tenant).user_id)
            )
        ).all()
    assert [row.status for row in rows] == ["failed"]
