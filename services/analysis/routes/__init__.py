"""HTTP routes, one module per resource, plus the worker's webhooks."""

from fastapi import APIRouter

from services.analysis.routes import chat_exports, chats, datasets, internal, skype, webhooks

ROUTERS: list[APIRouter] = [
    skype.router,
    datasets.router,
    chats.router,
    chat_exports.router,
    webhooks.router,
    internal.router,
]
