"""``/openapi.json`` (every service's public routes, merged), ``/docs`` and ``/redoc``,
with their assets served locally so they work with no internet access."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.dependencies import RuntimeDep
from gateway.openapi import STATIC_URL

router = APIRouter(include_in_schema=False)
TITLE = "Quarry API"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


@router.get("/openapi.json")
async def openapi(runtime: RuntimeDep) -> JSONResponse:
    document: dict[str, Any] = await runtime.openapi.document()
    return JSONResponse(document)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{TITLE} - Swagger UI",
        oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_URL}/favicon.png",
        # Swagger UI would otherwise fetch a validity badge from an online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{STATIC_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{STATIC_URL}/favicon.png",
        with_google_fonts=False,
    )
