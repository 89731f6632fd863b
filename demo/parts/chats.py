"""Chat-widget messages (``samples.chats``: conversations from addresses in several
countries and networks, a few hostile texts) sent with ``POST /client/chats`` and its
batch form, then exported as JSON and as an Excel workbook
(``GET /client/export/chats/download``).

The gateway records the address it saw: the sample's address goes as
``X-Forwarded-For``, which a gateway trusting the demo's address as a proxy
(``GATEWAY_TRUSTED_PROXIES``; the test platform does) geolocates; ``make up`` trusts
none, so there every message comes from 127.0.0.1. Every message has its
``message_id``: sent again, it is stored once."""

from __future__ import annotations

from typing import Any

from demo.context import DemoContext
from demo.summary import Look, Section, Skipped

NEEDS = (
    "POST /client/chats",
    "POST /client/chats/batch",
    "POST /client/export/chats",
    "GET /client/export/chats/download",
)
MESSAGES = 60
BATCH = 500
EXPORT = {"include_geo": "true", "include_meta": "true"}


async def _send(ctx: DemoContext) -> tuple[int, int, str]:
    """Send the samples; (stored now, stored before, where they came from)."""
    from samples.chats import batches, chat_messages

    samples = chat_messages(MESSAGES, prefix="demo")
    platform = ctx.platform
    first = await platform.post_json(
        "/client/chats", samples[0].body, headers={"X-Forwarded-For": samples[0].address.ip}
    )
    new, old = (0, 1) if first.get("duplicate") else (1, 0)
    geolocated = first.get("country_code") == samples[0].address.country_code
    rest = samples[1:]
    groups: list[tuple[str | None, list[dict[str, Any]]]]
    if geolocated:  # one request per address, so each message keeps its own
        groups = [(a.ip, bodies) for a, bodies in batches(rest, BATCH)]
    else:  # the address is not ours to give: one request does
        groups = [(None, [s.body for s in rest[i : i + BATCH]]) for i in range(0, len(rest), BATCH)]
    for ip, bodies in groups:
        headers = {"X-Forwarded-For": ip} if ip else {}
        stored = await platform.post_json(
            "/client/chats/batch", {"messages": bodies}, headers=headers
        )
        new, old = new + int(stored["accepted"]), old + int(stored["duplicates"])
    countries = len({s.address.country for s in samples if s.address.country})
    if geolocated:
        where = f"from {countries} countries (their addresses sent as X-Forwarded-For)"
    else:
        where = (
            "all from this machine's address (this gateway trusts no proxy, so it ignored "
            f"X-Forwarded-For; with GATEWAY_TRUSTED_PROXIES they come from {countries} countries)"
        )
    return new, old, where


async def feed(ctx: DemoContext) -> Section | Skipped:
    what = "Chat-widget messages and their JSON and Excel exports"
    if missing := ctx.offers.missing(*NEEDS):
        return Skipped(what, f"the platform does not serve {', '.join(missing)} yet")
    platform = ctx.platform
    new, old, where = await _send(ctx)
    created: dict[str, Any] = await platform.post_json(
        "/client/export/chats", {"format": "json", "include_geo": True, "include_meta": True}
    )
    records = int(created["record_count"])
    verb = (
        f"{new} stored" + (f", {old} already there" if old else "") if new else "all there already"
    )
    ctx.progress.info(f"chat-widget messages: {verb}; an export holds {records:,} messages")
    held = f"{records:,} messages"
    if records > MESSAGES:  # chat messages of Skype exports are exported too
        held += f" (these {MESSAGES} and the Skype export's)"
    path = "/client/export/chats/download"
    return Section(
        f"Chat-widget messages: {MESSAGES} sent, {where}; the export holds {held}",
        [
            Look(
                "the JSON export (messages, geolocation, summary), saved as quarry-demo-chats.json",
                platform.curl(
                    path, query={"format": "json", **EXPORT}, output="quarry-demo-chats.json"
                ),
            ),
            Look(
                "the Excel export (Chat Messages and Summary), saved as quarry-demo-chats.xlsx",
                platform.curl(
                    path, query={"format": "excel", **EXPORT}, output="quarry-demo-chats.xlsx"
                ),
            ),
        ],
    )
