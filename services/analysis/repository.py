"""Every SQL statement of the analysis service (the bulk loads included)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.analysis.models import (
    SCHEMA,
    ChatExport,
    ChatExportAudit,
    ChatMessage,
    Dataset,
    SkypeConversation,
    SkypeExport,
    SkypeExportChunk,
    SkypeMessage,
    WebhookEvent,
)

COPY_TIMEOUT_SECONDS = 900.0
# What a failing database raises, through SQLAlchemy or from asyncpg directly (the
# export's cursor), or as a dropped connection.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


class AnalysisRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- exports ---

    async def open_export(self, values: dict[str, Any]) -> SkypeExport:
        """The export of ``values["job_id"]``, created if it is the job's first attempt."""
        await self.session.execute(
            insert(SkypeExport).values(**values).on_conflict_do_nothing(index_elements=["job_id"])
        )
        export = await self.export_of_job(values["job_id"])
        assert export is not None
        return export

    async def export_of_job(self, job_id: uuid.UUID) -> SkypeExport | None:
        query = select(SkypeExport).where(SkypeExport.job_id == job_id)
        return (await self.session.scalars(query)).first()

    async def get_export(self, export_id: int, *, for_update: bool = False) -> SkypeExport | None:
        return await self.session.get(
            SkypeExport, export_id, with_for_update=for_update, populate_existing=True
        )

    async def list_exports(self, client_id: str | None) -> Sequence[SkypeExport]:
        query = (
            select(SkypeExport)
            .where(SkypeExport.client_id == client_id, SkypeExport.status != "deleted")
            .order_by(SkypeExport.created_at.desc(), SkypeExport.export_id.desc())
        )
        return (await self.session.scalars(query)).all()

    # --- chunks and messages ---

    async def chunks(self, export_id: int) -> dict[int, SkypeExportChunk]:
        query = select(SkypeExportChunk).where(SkypeExportChunk.export_id == export_id)
        return {row.chunk: row for row in (await self.session.scalars(query)).all()}

    async def drop_chunks_from(self, export_id: int, chunk: int, first_seq: int) -> None:
        """Forget chunk ``chunk`` and later ones, and every message from ``first_seq`` on."""
        await self.session.execute(
            delete(SkypeMessage).where(
                SkypeMessage.export_id == export_id, SkypeMessage.seq >= first_seq
            )
        )
        await self.session.execute(
            delete(SkypeExportChunk).where(
                SkypeExportChunk.export_id == export_id, SkypeExportChunk.chunk >= chunk
            )
        )

    async def record_chunk(self, row: SkypeExportChunk) -> None:
        self.session.add(row)
        await self.session.flush()

    async def loaded_rows(self, export_id: int) -> tuple[int, int]:
        """(chunks, rows) recorded for the export."""
        query = select(func.count(), func.coalesce(func.sum(SkypeExportChunk.rows), 0)).where(
            SkypeExportChunk.export_id == export_id
        )
        count, rows = (await self.session.execute(query)).one()
        return int(count), int(rows)

    async def count_messages(self, export_id: int) -> int:
        query = (
            select(func.count())
            .select_from(SkypeMessage)
            .where(SkypeMessage.export_id == export_id)
        )
        return int(await self.session.scalar(query) or 0)

    async def copy_csv(
        self,
        table: str,
        columns: Sequence[str],
        not_null: Sequence[str],
        source: AsyncIterable[bytes],
    ) -> int:
        """COPY a CSV stream into ``table`` within the session's transaction; rows loaded."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        status: str = await driver.copy_to_table(
            table,
            source=source,
            columns=list(columns),
            schema_name=SCHEMA,
            format="csv",
            force_not_null=list(not_null),
            timeout=COPY_TIMEOUT_SECONDS,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def delete_conversations(self, export_id: int) -> None:
        await self.session.execute(
            delete(SkypeConversation).where(SkypeConversation.export_id == export_id)
        )

    async def delete_export_data(self, export_id: int) -> None:
        """Messages, conversations and chunk records of an export."""
        for model in (SkypeMessage, SkypeConversation, SkypeExportChunk):
            await self.session.execute(delete(model).where(model.export_id == export_id))

    # --- datasets ---

    async def register_dataset(self, values: dict[str, Any]) -> Dataset:
        """The dataset ``values["upload_id"]``, created unless it exists (idempotent)."""
        await self.session.execute(
            insert(Dataset).values(**values).on_conflict_do_nothing(index_elements=["upload_id"])
        )
        dataset = await self.get_dataset(values["upload_id"])
        assert dataset is not None
        return dataset

    async def get_dataset(
        self, upload_id: uuid.UUID, *, for_update: bool = False
    ) -> Dataset | None:
        return await self.session.get(
            Dataset, upload_id, with_for_update=for_update, populate_existing=True
        )

    async def list_datasets(
        self,
        *,
        client_id: str | None,
        session_id: str | None,
        everyone: bool,
        now: datetime,
        limit: int = 500,
    ) -> Sequence[Dataset]:
        """Live datasets (not deleted, not expired) of a tenant, a guest session, or
        ``everyone`` (admins), newest first."""
        query = select(Dataset).where(
            Dataset.deleted_at.is_(None),
            (Dataset.expires_at.is_(None)) | (Dataset.expires_at > now),
        )
        if not everyone:
            if client_id is not None:
                query = query.where(Dataset.client_id == client_id)
            else:
                query = query.where(Dataset.client_id.is_(None), Dataset.session_id == session_id)
        query = query.order_by(Dataset.uploaded_at.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def expired_datasets(self, now: datetime, limit: int) -> Sequence[Dataset]:
        query = (
            select(Dataset)
            .where(Dataset.deleted_at.is_(None), Dataset.expires_at <= now)
            .order_by(Dataset.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(query)).scalars().all()

    # --- webhook events ---

    async def event_response(self, event_id: str) -> dict[str, Any] | None:
        row = await self.session.get(WebhookEvent, event_id)
        return row.response if row is not None else None

    async def record_event(self, event_id: str, topic: str, response: dict[str, Any]) -> bool:
        result = await self.session.execute(
            insert(WebhookEvent)
            .values(event_id=event_id, topic=topic, response=response)
            .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id])
            .returning(WebhookEvent.event_id)
        )
        return result.first() is not None

    # --- chat messages (the widget's) ---

    async def insert_chat_messages(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert ``rows``; one answer per row: the row itself, or the message already
        stored under the same ``external_id`` (``duplicate`` says which)."""
        result = await self.session.execute(
            insert(ChatMessage)
            .values(list(rows))
            .on_conflict_do_nothing(
                index_elements=[ChatMessage.client_id, ChatMessage.external_id],
                index_where=ChatMessage.external_id.is_not(None),
            )
            .returning(ChatMessage.id)
        )
        inserted = {row[0] for row in result}
        known: dict[str, ChatMessage] = {}
        missing = [row["external_id"] for row in rows if row["id"] not in inserted]
        if missing:
            query = select(ChatMessage).where(
                ChatMessage.client_id == rows[0]["client_id"],
                ChatMessage.external_id.in_(missing),
            )
            known = {m.external_id or "": m for m in (await self.session.scalars(query)).all()}
        answers: list[dict[str, Any]] = []
        for row in rows:
            if row["id"] in inserted:
                answers.append({**row, "duplicate": False})
                continue
            stored = known[row["external_id"]]
            answers.append(
                {
                    "id": stored.id,
                    "conversation_id": stored.conversation_id,
                    "sent_at": stored.sent_at,
                    "ip_type": stored.ip_type,
                    "country_code": stored.country_code,
                    "duplicate": True,
                }
            )
        return answers

    # --- chat exports: the rows (a snapshot read with a server-side cursor) ---

    async def begin_export_snapshot(self) -> None:
        """Start a REPEATABLE READ, READ ONLY transaction: the count, the rows and the
        summary of one export all see the same data."""
        await self.session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        await self.session.execute(select(1))

    async def limit_export_waits(self, lock_seconds: float, idle_seconds: float) -> None:
        """An export waits at most ``lock_seconds`` for a lock, and its transaction is
        ended by the server if a download stalls ``idle_seconds`` between batches."""
        lock_ms, idle_ms = int(lock_seconds * 1000), int(idle_seconds * 1000)
        # SET takes no parameters; both values are integers formatted here.
        await self.session.execute(text(f"SET LOCAL lock_timeout = {lock_ms}"))
        await self.session.execute(
            text(f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}")
        )

    async def ready_skype_exports(self, client_id: str | None) -> dict[int, datetime]:
        """Loaded Skype exports of a tenant (or every tenant): id -> when loaded."""
        query = select(SkypeExport.export_id, SkypeExport.created_at).where(
            SkypeExport.status == "ready"
        )
        if client_id is not None:
            query = query.where(SkypeExport.client_id == client_id)
        return {row[0]: row[1] for row in (await self.session.execute(query)).all()}

    async def _driver(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def chat_export_extent(self, selection: ChatSelection) -> tuple[int, Any, Any]:
        """(rows, first, last timestamp) of the selection."""
        driver = await self._driver()
        # First without the limit: no sort at all (the usual export takes every row).
        sql, args = selection_sql(selection, "extent", limited=False)
        # Built from this module's constants and $n placeholders only (selection_sql).
        extent = f"SELECT count(*), min(ts), max(ts) FROM ({sql}) AS chosen"  # noqa: S608
        row = await driver.fetchrow(extent, *args)
        if row[0] > selection.limit:
            # The newest ``limit`` by time alone: ties at the cut share their time, so
            # count, first and last are those of the export's own order (ts, id).
            sql, args = selection_sql(selection, "extent", by_id=False)
            extent = f"SELECT count(*), min(ts), max(ts) FROM ({sql}) AS chosen"  # noqa: S608
            row = await driver.fetchrow(extent, *args)
        return int(row[0]), row[1], row[2]

    async def stream_chat_export(
        self, selection: ChatSelection, batch_rows: int
    ) -> AsyncIterator[list[Any]]:
        """The selected messages (:data:`CHAT_EXPORT_COLUMNS`), newest first, in lists of
        ``batch_rows``, from a server-side cursor: the next batch is fetched while the
        caller works on this one."""
        sql, args = selection_sql(selection, "full")
        driver = await self._driver()
        cursor = await driver.cursor(sql, *args)
        pending: asyncio.Future[list[Any]] | None = asyncio.ensure_future(cursor.fetch(batch_rows))
        try:
            while pending is not None:
                rows = await pending
                pending = None
                if len(rows) == batch_rows:
                    pending = asyncio.ensure_future(cursor.fetch(batch_rows))
                if rows:
                    yield rows
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def chat_export_summary(self, selection: ChatSelection) -> dict[str, Any]:
        """Aggregates over exactly the selected rows (one materialised pass)."""
        sql, args = selection_sql(selection, "summary")
        driver = await self._driver()
        row = await driver.fetchrow(SUMMARY_SQL.format(selection=sql), *args)
        return {
            "total": int(row["total"]),
            "tokens": int(row["tokens"]),
            "users": int(row["users"]),
            "first": row["first"],
            "last": row["last"],
            "countries": [tuple(item) for item in orjson.loads(row["countries"])],
            "isps": [tuple(item) for item in orjson.loads(row["isps"])],
            "ip_types": orjson.loads(row["ip_types"]),
            "conversations": int(row["conversations"]),
            "longest": int(row["longest"]),
        }

    # --- chat exports: kept files and the audit log ---

    async def add_chat_export(self, export: ChatExport) -> None:
        self.session.add(export)
        await self.session.flush()

    async def get_chat_export(
        self, export_id: uuid.UUID, *, for_update: bool = False
    ) -> ChatExport | None:
        return await self.session.get(
            ChatExport, export_id, with_for_update=for_update, populate_existing=True
        )

    async def expired_chat_exports(self, now: datetime, limit: int) -> Sequence[ChatExport]:
        query = (
            select(ChatExport)
            .where(ChatExport.status.in_(("ready", "building", "failed")))
            .where(ChatExport.expires_at <= now)
            .order_by(ChatExport.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()

    async def add_audit(self, entry: ChatExportAudit) -> ChatExportAudit:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def get_audit(self, entry_id: int) -> ChatExportAudit | None:
        return await self.session.get(ChatExportAudit, entry_id, populate_existing=True)

    async def list_audit(
        self,
        *,
        limit: int,
        offset: int,
        user_id: str | None = None,
        client_id: str | None = None,
        outcome: str | None = None,
    ) -> Sequence[ChatExportAudit]:
        query = select(ChatExportAudit)
        if user_id is not None:
            query = query.where(ChatExportAudit.user_id == user_id)
        if client_id is not None:
            query = query.where(ChatExportAudit.requester_client_id == client_id)
        if outcome is not None:
            query = query.where(ChatExportAudit.outcome == outcome)
        query = (
            query.order_by(ChatExportAudit.at.desc(), ChatExportAudit.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return (await self.session.scalars(query)).all()


# --- the chat export's SQL (raw, for asyncpg's server-side cursor) ---

# The order of the columns every exported row has (services/analysis/service/export_formats.py).
CHAT_EXPORT_COLUMNS = (
    "id",
    "from_name",
    "message",
    "reply",
    "ts",
    "conversation_id",
    "token_cost",
    "user_ip",
    "user_agent",
    "referrer",
    "session_id",
    "is_embed_user",
    "country",
    "country_code",
    "isp",
    "organization",
    "ip_type",
    "created_at",
    "client_id",
    "from_user_id",
    "user_name",
    "user_email",
    "skype_export_id",
)


@dataclass(frozen=True, slots=True)
class ChatSelection:
    """Which messages an export holds: a tenant's (or, ``client_id`` None, every
    tenant's) widget messages and the messages of its loaded Skype exports
    (``skype_exports``), optionally one conversation, ``since`` <= time < ``before``,
    the newest ``limit``. ``full_ip`` False: IPv4 addresses lose their last octet,
    IPv6 their last 80 bits."""

    client_id: str | None
    conversation_id: str | None
    since: datetime | None
    before: datetime | None
    limit: int
    full_ip: bool
    skype_exports: tuple[int, ...]


_ANONYMISED_IP = (
    "CASE family(m.user_ip) WHEN 4 THEN host(network(set_masklen(m.user_ip, 24))) "
    "ELSE host(network(set_masklen(m.user_ip, 48))) END"
)
_SKYPE_ID = "'skype-' || s.export_id || '-' || s.seq"
_CHAT_COLUMNS = {
    "extent": "m.sent_at AS ts, m.id::text AS id",
    "full": (
        "m.id::text AS id, m.from_name, m.message, m.reply, m.sent_at AS ts, "
        "m.conversation_id::text AS conversation_id, m.token_cost, {ip} AS user_ip, "
        "m.user_agent::text AS user_agent, m.referrer::text AS referrer, "
        "m.session_id::text AS session_id, m.is_embed_user, m.country::text AS country, "
        "m.country_code::text AS country_code, m.isp::text AS isp, "
        "m.organization::text AS organization, m.ip_type::text AS ip_type, m.created_at, "
        "m.client_id::text AS client_id, m.from_user_id::text AS from_user_id, "
        "m.user_name::text AS user_name, m.user_email::text AS user_email, "
        "NULL::bigint AS skype_export_id"
    ),
    "summary": (
        "m.sent_at AS ts, m.id::text AS id, m.token_cost, "
        "COALESCE(m.from_user_id, m.session_id, host(m.user_ip), m.posted_by)::text AS user_key, "
        "m.country::text AS country, m.isp::text AS isp, m.ip_type::text AS ip_type, "
        "m.client_id::text AS client_id, m.conversation_id::text AS conversation_id"
    ),
}
_SKYPE_COLUMNS = {
    "extent": f"s.sent_at AS ts, {_SKYPE_ID} AS id",
    "full": (
        # Skype often leaves a sender's display name out: the sender's Skype id then.
        f"{_SKYPE_ID} AS id, COALESCE(s.sender_name, s.sender_id) AS from_name, "
        "s.content AS message, "
        "NULL::text AS reply, s.sent_at AS ts, s.conversation_id, NULL::integer AS token_cost, "
        "NULL::text AS user_ip, NULL::text AS user_agent, NULL::text AS referrer, "
        "NULL::text AS session_id, false AS is_embed_user, NULL::text AS country, "
        "NULL::text AS country_code, NULL::text AS isp, NULL::text AS organization, "
        "NULL::text AS ip_type, NULL::timestamptz AS created_at, s.client_id::text AS client_id, "
        "s.sender_id AS from_user_id, s.sender_name AS user_name, NULL::text AS user_email, "
        "s.export_id AS skype_export_id"
    ),
    "summary": (
        f"s.sent_at AS ts, {_SKYPE_ID} AS id, NULL::integer AS token_cost, "
        "s.sender_id AS user_key, NULL::text AS country, NULL::text AS isp, "
        "NULL::text AS ip_type, s.client_id::text AS client_id, s.conversation_id"
    ),
}

SUMMARY_SQL = """
WITH sel AS MATERIALIZED ({selection})
SELECT
  (SELECT count(*) FROM sel) AS total,
  (SELECT coalesce(sum(token_cost), 0) FROM sel) AS tokens,
  (SELECT count(DISTINCT (client_id, user_key)) FROM sel WHERE user_key IS NOT NULL) AS users,
  (SELECT min(ts) FROM sel) AS first,
  (SELECT max(ts) FROM sel) AS last,
  (SELECT coalesce(json_agg(json_build_array(country, n) ORDER BY n DESC, country), '[]')
     FROM (SELECT country, count(*) AS n FROM sel WHERE country IS NOT NULL
           GROUP BY country ORDER BY n DESC, country LIMIT 10) AS c)::text AS countries,
  (SELECT coalesce(json_agg(json_build_array(isp, n) ORDER BY n DESC, isp), '[]')
     FROM (SELECT isp, count(*) AS n FROM sel WHERE isp IS NOT NULL
           GROUP BY isp ORDER BY n DESC, isp LIMIT 10) AS i)::text AS isps,
  (SELECT coalesce(json_object_agg(ip_type, n ORDER BY n DESC, ip_type), '{{}}')
     FROM (SELECT ip_type, count(*) AS n FROM sel WHERE ip_type IS NOT NULL
           GROUP BY ip_type) AS t)::text AS ip_types,
  (SELECT count(*) FROM (SELECT 1 FROM sel GROUP BY client_id, conversation_id) AS v)
     AS conversations,
  (SELECT coalesce(max(n), 0)
     FROM (SELECT count(*) AS n FROM sel GROUP BY client_id, conversation_id) AS w) AS longest
"""


def selection_sql(
    selection: ChatSelection, columns: str, *, limited: bool = True, by_id: bool = True
) -> tuple[str, list[Any]]:
    """The SQL of ``selection`` (newest first, ties by id) with ``columns`` ("extent",
    "full" or "summary"), and its arguments. ``limited=False``: every matching row, in
    no order (for aggregates); ``by_id=False``: ties in time left unordered (a cheaper
    sort when only the times matter)."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    chat = [f"{SCHEMA}.chat_messages AS m"]
    skype = [f"{SCHEMA}.skype_messages AS s"]
    chat_where: list[str] = []
    skype_where = ["s.category <> 'system'"]
    if selection.client_id is not None:
        p = arg(selection.client_id)
        chat_where.append(f"m.client_id = {p}")
        skype_where.append(f"s.client_id = {p}")
    if selection.conversation_id is not None:
        p = arg(selection.conversation_id)
        chat_where.append(f"m.conversation_id = {p}")
        skype_where.append(f"s.conversation_id = {p}")
    if selection.since is not None:
        p = arg(selection.since)
        chat_where.append(f"m.sent_at >= {p}")
        skype_where.append(f"s.sent_at >= {p}")
    if selection.before is not None:
        p = arg(selection.before)
        chat_where.append(f"m.sent_at < {p}")
        skype_where.append(f"s.sent_at < {p}")
    cut = ""
    if limited:
        cut = f" ORDER BY ts DESC{', id DESC' if by_id else ''} LIMIT {arg(selection.limit)}"
    ip = "host(m.user_ip)" if selection.full_ip else _ANONYMISED_IP
    branches = [
        _branch(_CHAT_COLUMNS[columns].format(ip=ip), chat[0], chat_where, cut),
    ]
    if selection.skype_exports:
        skype_where.append(f"s.export_id = ANY({arg(list(selection.skype_exports))}::bigint[])")
        branches.append(_branch(_SKYPE_COLUMNS[columns], skype[0], skype_where, cut))
    union = " UNION ALL ".join(f"({b})" for b in branches)
    # Only this module's constants and $n placeholders: every value is an argument.
    return f"SELECT * FROM ({union}) AS u{cut}", args  # noqa: S608


def _branch(columns: str, table: str, where: list[str], cut: str) -> str:
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {columns} FROM {table}{condition}{cut}"  # noqa: S608
