"""Tables of the ingest service, all in schema ``ingest``."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.database import schema_metadata

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
