"""Chat-widget messages (``POST /client/chats``) and the chat exports (JSON and Excel,
``GET /client/export/chats/download``)."""

from __future__ import annotations

from demo.context import DemoContext
from demo.summary import Section, Skipped

NEEDS = (
    "POST /client/chats",
    "POST /client/export/chats",
    "GET /client/export/chats/download",
)


async def feed(ctx: DemoContext) -> Section | Skipped:
    what = "Chat-widget messages and their JSON and Excel exports"
    if missing := ctx.offers.missing(*NEEDS):
        return Skipped(what, f"the platform does not serve {', '.join(missing)} yet")
    return Skipped(what, "this demo does not feed chat messages yet")
