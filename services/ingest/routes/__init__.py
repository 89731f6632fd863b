"""HTTP routes, one module per resource, plus webhooks and internal routes."""

from fastapi import APIRouter

from services.ingest.routes import datasets, internal, jobs, skype, webhooks

ROUTERS: list[APIRouter] = [
    skype.router,
    datasets.router,
    jobs.router,
    webhooks.router,
    internal.router,
]
