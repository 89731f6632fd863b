"""HTTP routes, one module per resource, plus webhooks and internal routes."""

from fastapi import APIRouter

from services.ingest.routes import (
    datasets,
    files,
    files_webhooks,
    internal,
    jobs,
    skype,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    skype.router,
    datasets.router,
    files.router,
    jobs.router,
    # Before the generic /webhooks/{topic}: the Files system's own webhook routes.
    files_webhooks.router,
    webhooks.router,
    internal.router,
]
