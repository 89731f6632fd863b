"""/monitoring/detailed lists the document converters the worker found."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from services.ingest.worker.documents.office import find_soffice


async def worker_converters(client: httpx.AsyncClient, timeout: float = 90.0) -> dict[str, Any]:
    """The worker publishes its converters once its document sandbox has started."""
    deadline = time.monotonic() + timeout
    while True:
        body = (await client.get("/monitoring/detailed")).json()
        converters = body["components"]["worker"].get("converters")
        if converters is not None or time.monotonic() > deadline:
            assert converters is not None, body["components"]["worker"]
            return dict(converters)
        await asyncio.sleep(1.0)


async def test_monitoring_detailed_lists_the_converters(gateway_client: httpx.AsyncClient) -> None:
    converters = await worker_converters(gateway_client)
    tools = converters["tools"]
    for tool in ("pdfium", "polars", "markdown-it", "text", "weasyprint"):
        assert tools[tool], (tool, tools)
    assert converters["available"] >= 22
    office = [u for u in converters["unavailable"] if u.startswith("docx->pdf")]
    if find_soffice() is not None:
        assert tools["libreoffice"]
        assert office == []
    else:
        assert office == ["docx->pdf (needs Debian package libreoffice-writer-nogui)"]
    assert isinstance(converters["network_isolated"], bool)
