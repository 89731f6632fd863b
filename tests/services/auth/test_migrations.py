"""Auth's data migrations, run on a database of their own: existing rows come out as
the code expects them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.auth.models import SCHEMA
from services.auth.security.emails import normalized_email
from shared.migrations import upgrade
from tests.services.auth.conftest import MIGRATIONS, fresh_database


async def test_0004_normalises_existing_addresses_and_keeps_them_unique(backing: Any) -> None:
    async with fresh_database(backing.database_url, "0003_revocations") as url:
        engine = create_async_engine(url)
        client = uuid.uuid4()
        # Before 0004 only lower(email) was unique: a fullwidth twin could coexist.
        users = [
            (uuid.uuid4(), "older", "\uff21LICE@Example.com", datetime(2026, 1, 1, tzinfo=UTC)),
            (uuid.uuid4(), "newer", "alice@example.com", datetime(2026, 2, 1, tzinfo=UTC)),
            (uuid.uuid4(), "bob", "Bob@X.org", datetime(2026, 3, 1, tzinfo=UTC)),
        ]
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO auth.clients (id, name, personal) VALUES (:id, 'c', true)"),
                    {"id": client},
                )
                for user_id, name, email, created in users:
                    await conn.execute(
                        text(
                            "INSERT INTO auth.users (id, client_id, username, email, display_name,"
                            " role, is_active, totp_enabled, created_at)"
                            " VALUES (:id, :c, :u, :e, :u, 'user', true, false, :t)"
                        ),
                        {"id": user_id, "c": client, "u": name, "e": email, "t": created},
                    )
            await asyncio.to_thread(upgrade, MIGRATIONS, url, SCHEMA)
            async with engine.connect() as conn:
                rows = dict(
                    (
                        await conn.execute(
                            text("SELECT username, email_normalized FROM auth.users")
                        )
                    ).all()
                )
                indexes = set(
                    (
                        await conn.execute(
                            text("SELECT indexname FROM pg_indexes WHERE tablename = 'users'")
                        )
                    )
                    .scalars()
                    .all()
                )
        finally:
            await engine.dispose()
    assert rows["older"] == "alice@example.com" == normalized_email(users[0][2])
    assert rows["newer"] == f"alice@example.com#{users[1][0]}"
    assert rows["bob"] == "bob@x.org"
    assert "uq_users_email_normalized" in indexes
    assert "uq_users_email_lower" not in indexes
