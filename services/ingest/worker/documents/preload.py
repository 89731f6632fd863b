"""Imported once by the sandbox's fork server (never by the worker itself): loads the
libraries and their models, so every forked child starts warm.

Nothing here may start threads that a fork would orphan: polars is imported, never
used, in this process.
"""

from __future__ import annotations

import fastexcel  # noqa: F401
import polars  # noqa: F401

from services.ingest.worker.documents.operations import warm_up

warm_up()
