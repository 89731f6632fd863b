"""The one ASGI app factory: every service gets the same request ids, logging,
metrics, error handling, gateway proof (:mod:`shared.proof`), HTTP niceties,
``/health`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.error_handlers import UnhandledErrorMiddleware, install_error_handlers
from shared.health import HealthCheck, overall, run_checks
from shared.http_compat import HeadAsGetMiddleware, JsonBodyMiddleware
from shared.log import configure_logging
from shared.metrics import MetricsMiddleware, metrics_endpoint
from shared.proof import GatewayProofMiddleware
from shared.request_context import RequestIdMiddleware
from shared.settings import CommonSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def health_checks(app: FastAPI) -> dict[str, HealthCheck]:
    """The component checks a service registered during start-up."""
    checks: dict[str, HealthCheck] = app.state.health_checks
    return checks


def create_service_app(
    *,
    name: str,
    title: str,
    settings: CommonSettings,
    lifespan: Lifespan,
    routers: Sequence[APIRouter] = (),
    description: str = "",
    require_gateway_proof: bool = True,
) -> FastAPI:
    """A FastAPI app for service ``name`` with the platform's common behaviour.

    ``require_gateway_proof=False`` is for the gateway benchmark's stand-in service
    only (it is measured behind gateways that predate the proof); every service of
    the platform keeps it on (``tests/shared/test_service_app.py`` checks them).
    """
    configure_logging(name, settings.log_level, json=settings.log_json)
    app = FastAPI(
        title=title,
        description=description,
        version=settings.version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.service_name = name
    app.state.health_checks = {}
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        components = await run_checks(health_checks(request.app))
        status = overall(components)
        body: dict[str, Any] = {
            "status": status,
            "service": name,
            "version": settings.version,
            "components": components,
        }
        return JSONResponse(body, status_code=200 if status == "healthy" else 503)

    # An API route (not a bare Starlette one), so its own requests carry the route label.
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
    # Outermost last: request id, then metrics, then the last-resort 500, then the
    # gateway proof, then the HTTP niceties (HEAD like GET; `curl -d` JSON sent as a form).
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    if require_gateway_proof:
        app.add_middleware(GatewayProofMiddleware, internal_token=settings.internal_token)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(MetricsMiddleware, service=name)
    app.add_middleware(RequestIdMiddleware)
    return app
