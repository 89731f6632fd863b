"""One mechanism renders every error of every service: typed errors, FastAPI's
validation errors, Starlette's HTTP errors and anything unexpected (a bare 500
that says only that something failed, with the request id)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.backing_errors import RETRY_AFTER_SECONDS, unavailable_backend
from shared.dialects import VALIDATION_STATUS, Dialect, dialect_for_path, render_error
from shared.errors import (
    NotFound,
    QuarryError,
    ServiceUnavailable,
    ValidationFailed,
    error_for_status,
)
from shared.log import get_logger
from shared.request_context import current_request_id

log = get_logger("shared.errors")


def error_response(error: QuarryError, path: str, *, status: int | None = None) -> JSONResponse:
    """Render ``error`` for the route at ``path`` in that route's dialect."""
    dialect = dialect_for_path(path)
    body = render_error(error, dialect, current_request_id())
    return JSONResponse(body, status_code=status or error.status_code, headers=error.headers)


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's validation list without the submitted input echoed back."""
    out: list[dict[str, Any]] = []
    for item in errors:
        entry = {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
        out.append(entry)
    return out


def validation_error(path: str, errors: Any) -> JSONResponse:
    details = validation_details(errors)
    fields = ", ".join(".".join(str(p) for p in d["loc"][1:] or d["loc"]) for d in details)
    err = ValidationFailed(f"Invalid request: {fields}" if fields else None, details=details)
    dialect: Dialect = dialect_for_path(path)
    return error_response(err, path, status=VALIDATION_STATUS[dialect])


async def _quarry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QuarryError)
    if exc.status_code >= 500:
        log.warning("request_failed", code=exc.code, status=exc.status_code, path=request.url.path)
    return error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error(request.url.path, exc.errors())


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else None
    err = error_for_status(exc.status_code, message)
    if exc.headers:
        err.headers.update(exc.headers)
    return error_response(err, request.url.path, status=exc.status_code)


def unexpected_error(exc: BaseException) -> QuarryError:
    """What the client is told of an exception no handler took: a 503 (retry later)
    when a backing service is unreachable, the generic 500 otherwise."""
    backend = unavailable_backend(exc)
    if backend is None:
        return QuarryError()
    return ServiceUnavailable(
        f"The {backend} is temporarily unavailable; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class UnhandledErrorMiddleware:
    """Turns an unexpected exception into the generic 500 of the route's dialect
    (503 with ``Retry-After`` when a backing service is unreachable).

    It sits inside the request-id middleware (Starlette's own last-resort handler
    runs outside every middleware, where the request id is already gone), logs the
    traceback, and tells the client only that something failed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            error = unexpected_error(exc)
            if error.status_code == 503:
                log.warning(
                    "backing_service_unavailable", path=scope.get("path"), error=repr(exc)[:300]
                )
            else:
                log.error("unhandled_exception", path=scope.get("path"), exc_info=exc)
            if started:
                raise
            response = error_response(error, str(scope.get("path", "")))
            await response(scope, receive, send)


async def refuse_websocket(scope: Scope, receive: Receive, send: Send, error: QuarryError) -> None:
    """Refuse a WebSocket handshake with ``error``: its status and dialect body where the
    server offers the ``websocket.http.response`` extension, a 1008 close otherwise (which
    servers answer with 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008, "reason": error.message})
        return
    response = error_response(error, str(scope.get("path", "")))
    await send(
        {
            "type": "websocket.http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "websocket.http.response.body", "body": response.body})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QuarryError, _quarry_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    http_not_found = app.router.default

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette closes an unknown WebSocket path before accepting it, which the
        # server turns into a 403: a path that does not exist is a 404.
        if scope["type"] == "websocket":
            await refuse_websocket(scope, receive, send, NotFound())
        else:
            await http_not_found(scope, receive, send)

    app.router.default = not_found
