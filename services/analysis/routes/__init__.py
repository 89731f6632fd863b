"""HTTP routes, one module per resource, plus the worker's webhooks."""

from fastapi import APIRouter

from services.analysis.routes import datasets, internal, skype, webhooks

ROUTERS: list[APIRouter] = [skype.router, datasets.router, webhooks.router, internal.router]
