"""One OpenAPI document for the whole platform, and docs pages that need no internet.

Each service publishes ``/openapi.json``; the gateway fetches them (lazily,
cached for ``GATEWAY_OPENAPI_CACHE_SECONDS``, the last good copy kept when a
service is down), keeps only the operations its route table exposes (so no
``/internal`` route, webhook, ``/health`` or ``/metrics`` leaks into the public
document), merges the components under collision-safe names (a schema that two
services define differently becomes ``<service>__<Name>`` with every ``$ref``
rewritten; identical ones are shared), adds the gateway's own routes and the
security schemes of the route table's policies.

``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from the
gateway itself (the assets shipped by the ``fastapi-offline`` package).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp

from gateway.route_table import AuthPolicy, Owner, Route, RouteTable
from shared.dialects import VALIDATION_STATUS
from shared.log import get_logger

log = get_logger("gateway.openapi")

STATIC_URL = "/static-offline-docs"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
COMPONENT_SECTIONS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
)
SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "SessionAuth": {"type": "apiKey", "in": "cookie", "name": "session"},
    "SessionIdAuth": {"type": "apiKey", "in": "cookie", "name": "session_id"},
}
ANY_CREDENTIAL: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
# What every error body carries, whatever the route's dialect adds (shared.dialects).
ERROR_SCHEMA_NAME = "QuarryError"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "Every error carries these; each spec's dialect adds its own fields.",
    "required": ["code", "message", "request_id"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
    },
}


def static_directory() -> Path:
    """Where the Swagger UI and ReDoc assets are installed."""
    return Path(str(files("fastapi_offline") / "static"))


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def merge_documents(
    base: dict[str, Any],
    services: dict[str, dict[str, Any]],
    table: RouteTable,
) -> dict[str, Any]:
    """``base`` (the gateway's own document) plus every service's exposed operations."""
    merged = copy.deepcopy(base)
    paths: dict[str, Any] = merged.setdefault("paths", {})
    components: dict[str, Any] = merged.setdefault("components", {})
    tags: dict[str, Any] = {t["name"]: t for t in merged.get("tags", []) if "name" in t}
    for service, document in services.items():
        owner = Owner(service)
        renames: dict[str, str] = {}
        incoming = document.get("components", {})
        for section in COMPONENT_SECTIONS:
            for name, value in incoming.get(section, {}).items():
                existing = components.get(section, {}).get(name)
                if existing is not None and existing != value:
                    renames[f"#/components/{section}/{name}"] = (
                        f"#/components/{section}/{service}__{name}"
                    )
        for section in COMPONENT_SECTIONS:
            for name, value in incoming.get(section, {}).items():
                ref = f"#/components/{section}/{name}"
                new_name = renames.get(ref, ref).rsplit("/", 1)[1]
                components.setdefault(section, {})[new_name] = _rewrite_refs(value, renames)
        for path, item in document.get("paths", {}).items():
            if not isinstance(item, dict):
                continue
            kept = {
                method: _rewrite_refs(operation, renames)
                for method, operation in item.items()
                if method in HTTP_METHODS and table.exposes(owner, method, path)
            }
            if not kept:
                continue
            shared_fields = {k: v for k, v in item.items() if k not in HTTP_METHODS}
            target = paths.setdefault(path, _rewrite_refs(shared_fields, renames))
            for method, operation in kept.items():
                target.setdefault(method, operation)
        for tag in document.get("tags", []):
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
    _apply_security(paths, table)
    _document_errors(paths, table)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    components.setdefault("schemas", {})[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    merged["components"] = {k: v for k, v in components.items() if v}
    if tags:
        merged["tags"] = list(tags.values())
    return merged


def _apply_security(paths: dict[str, Any], table: RouteTable) -> None:
    """Document, per operation, the credentials its route accepts."""
    for path, item in paths.items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or not isinstance(operation, dict):
                continue
            route = table.match(method.upper(), path).route
            if route is None or "security" in operation:
                continue
            if route.auth is AuthPolicy.REQUIRED:
                operation["security"] = ANY_CREDENTIAL
            elif route.auth is AuthPolicy.OPTIONAL:
                operation["security"] = [*ANY_CREDENTIAL, {}]


def _error(description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _document_errors(paths: dict[str, Any], table: RouteTable) -> None:
    """Document the errors the platform answers on every route, whatever the service says.

    FastAPI documents a 422 for a malformed request; routes whose dialect answers 400
    get that status instead, and a route with a body a 400 for unparseable JSON. An
    error a service documents by description alone gets the common error body. The
    gateway itself adds 401 (bad credentials, even on an optional route), 429 (rate
    limit) and 503 (the owner or auth unreachable).
    """
    for path, item in paths.items():
        for method, operation in item.items():
            if method not in HTTP_METHODS or not isinstance(operation, dict):
                continue
            route = table.match(method.upper(), path).route
            if route is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            _document_validation_status(responses, route)
            if "requestBody" in operation:
                responses.setdefault("400", _error("The body is not parseable JSON"))
            if route.auth is not AuthPolicy.PUBLIC:
                responses.setdefault("401", _error("Missing, invalid or expired credentials"))
            responses.setdefault("429", _error("Rate limit exceeded (see Retry-After)"))
            responses.setdefault("503", _error("Service temporarily unavailable"))
            for status, response in responses.items():
                # A service's own error statuses, documented by description only.
                if status[:1] in "45" and isinstance(response, dict) and "content" not in response:
                    response["content"] = _error("")["content"]


def _document_validation_status(responses: dict[str, Any], route: Route) -> None:
    status = str(VALIDATION_STATUS[route.dialect])
    if "422" in responses and status != "422":
        del responses["422"]
        responses.setdefault(status, _error("Malformed request (validation details)"))


class MergedOpenApi:
    """The merged document, refreshed lazily."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        service_urls: dict[str, str],
        table: RouteTable,
        own_document: Callable[[], dict[str, Any]],
        *,
        cache_seconds: float,
        timeout: float,
        headers: dict[str, str],
    ) -> None:
        self._session = session
        self._headers = headers  # the gateway proof: a service's document is not public
        self._urls = service_urls
        self._table = table
        self._own = own_document
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._documents: dict[str, dict[str, Any]] = {}  # last good copy per service
        self._merged: dict[str, Any] | None = None
        self._merged_at = 0.0
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        if self._merged is not None and time.monotonic() - self._merged_at < self._cache_seconds:
            return self._merged
        async with self._lock:
            if self._merged is None or time.monotonic() - self._merged_at >= self._cache_seconds:
                await self._refresh()
            assert self._merged is not None
            return self._merged

    async def _fetch(self, service: str) -> None:
        try:
            async with self._session.get(
                f"{self._urls[service]}/openapi.json",
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                if response.status != 200:
                    raise ValueError(f"status {response.status}")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("openapi_fetch_failed", service=service, error=repr(exc))
            return
        if isinstance(document, dict):
            self._documents[service] = document

    async def _refresh(self) -> None:
        await asyncio.gather(*(self._fetch(s) for s in self._urls))
        services = {s: self._documents[s] for s in self._urls if s in self._documents}
        self._merged = merge_documents(self._own(), services, self._table)
        missing = sorted(set(self._urls) - set(services))
        if missing:
            self._merged.setdefault("info", {})["x-unavailable-services"] = missing
        self._merged_at = time.monotonic()
