"""The merged OpenAPI document, and /docs and /redoc with no internet access."""

from __future__ import annotations

import re

import httpx

from deploy.ports import free_port
from tests.gateway.conftest import StartGateway

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


async def test_swagger_ui_uses_only_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    html = response.text
    urls = referenced_urls(html)
    assert urls, html
    for url in urls:
        assert url.startswith("/"), f"/docs references {url}"
    assert "http://" not in html
    assert "https://" not in html
    assert '"validatorUrl": null' in html
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000


async def test_redoc_uses_only_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/redoc")
    assert response.status_code == 200
    urls = referenced_urls(response.text)
    assert "/static-offline-docs/redoc.standalone.js" in urls
    assert all(url.startswith("/") for url in urls)
    assert "fonts.googleapis" not in response.text
    script = await client.get("/static-offline-docs/redoc.standalone.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_openapi_merges_only_public_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for public in ("/api/health", "/api/version", "/healthcheck", "/monitoring/metrics"):
        assert public in paths
    for service_path in ("/profile/{username}", "/sessions", "/api/upload", "/files/upload"):
        assert service_path in paths
    for hidden in ("/internal/introspect", "/health", "/webhooks/parser", "/metrics", "/docs"):
        assert hidden not in paths
    schemas = document["components"]["schemas"]
    # Each service defines its own "Thing": the names stay apart and the refs follow.
    things = {name for name in schemas if name.endswith("Thing")}
    assert len(things) == 4
    profile_ref = paths["/profile/{username}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]["$ref"]
    target = schemas[profile_ref.rsplit("/", 1)[1]]
    assert "profile" in target["properties"]
    # Identical definitions are shared rather than duplicated.
    assert "SharedName" in schemas
    assert not any(name.endswith("__SharedName") for name in schemas)
    security = document["components"]["securitySchemes"]
    assert security["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert paths["/sessions"]["get"]["security"]
    assert "security" not in paths["/api/health"]["get"]


async def test_openapi_survives_a_service_that_is_down(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(analysis_internal_url=f"http://127.0.0.1:{free_port()}")
    async with gateway.client() as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "/sessions" in document["paths"]
    assert document["info"]["x-unavailable-services"] == ["analysis"]
