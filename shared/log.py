"""Structured JSON logging (structlog) with the request id on every line."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import structlog

from shared.request_context import current_request_id


def _add_request_id(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    request_id = current_request_id()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


# A credential in a URL's query (the WebSocket routes take ``?api_key=``): uvicorn logs
# the path with its query string, so every line's message is cleaned of them.
_QUERY_SECRET = re.compile(r"(?i)([?&](?:api_key|access_token|token)=)[^&\s\"']+")


def _redact_query_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event = event_dict.get("event")
    if isinstance(event, str) and "=" in event:
        event_dict["event"] = _QUERY_SECRET.sub(r"\1***", event)
    return event_dict


ACCESS_LOG_VARIABLE = "QUARRY_ACCESS_LOG"


def access_log_enabled() -> bool:
    """``QUARRY_ACCESS_LOG=1``: uvicorn's line per request (off by default, so the
    console of ``make up`` stays readable)."""
    return os.environ.get(ACCESS_LOG_VARIABLE, "").lower() in ("1", "true", "yes", "on")


def configure_logging(service: str, level: str = "INFO", *, json: bool = True) -> None:
    """Route structlog and the standard library through one JSON renderer."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
        _redact_query_secrets,
        lambda _, __, ed: {**ed, "service": service},
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's loggers go through the root handler; its access log only when asked for.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.INFO if access_log_enabled() else logging.WARNING
    logging.getLogger("uvicorn.access").setLevel(access)


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
