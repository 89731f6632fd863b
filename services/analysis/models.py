"""Tables of the analysis service, all in schema ``analysis``."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.database import schema_metadata

SCHEMA = "analysis"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)
