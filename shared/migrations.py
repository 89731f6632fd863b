"""One Alembic environment per service, its version table in its own schema.

A service's ``migrations/env.py`` is three lines calling :func:`run_env`;
``python -m services.<name> migrate`` calls :func:`upgrade`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.database import async_url


def alembic_config(migrations_dir: Path, database_url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(migrations_dir: Path, database_url: str, schema: str, revision: str = "head") -> None:
    """Migrate one service's schema to ``revision``."""
    command.upgrade(alembic_config(migrations_dir, database_url, schema), revision)


def _configure_and_run(connection: Connection, metadata: MetaData, schema: str) -> None:
    # Looked up first: CREATE SCHEMA checks the database's CREATE privilege even when the
    # schema exists, and a service's role owns its schema without holding that privilege.
    exists = connection.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).scalar()
    if not exists:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    # Serialise concurrent migrators of the same schema (several replicas starting at once).
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, metadata: MetaData, schema: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.begin() as conn:
        await conn.run_sync(_configure_and_run, metadata, schema)
    await engine.dispose()


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    cfg = context.config
    schema = str(cfg.attributes.get("schema") or metadata.schema)
    url = cfg.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not configured"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, version_table_schema=schema)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata, schema))
