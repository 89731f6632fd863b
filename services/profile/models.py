"""Tables of the profile service, all in schema ``profile``."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.database import schema_metadata

SCHEMA = "profile"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
