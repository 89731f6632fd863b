"""Chat-widget ingestion (API.md "Chat data for exports"): ``POST /client/chats`` and
``POST /client/chats/batch``. Errors as ``{"error_code", "message"}``.

Authentication: ``Authorization: Bearer`` or ``X-API-Key`` of the tenant, with the
``chat`` permission (a key made for the widget, which can do nothing else) or
``write``. The user's IP is the address the gateway saw, never a body field or a
client-supplied header."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.analysis.dependencies import ChatsDep, OriginDep, PrincipalDep, SettingsDep
from services.analysis.routes.json_body import read_json
from services.analysis.schemas import ChatBatchStored, ChatMessageIn, ChatStored

router = APIRouter(tags=["Export: chat data"])
_MESSAGE_SCHEMA = ChatMessageIn.model_json_schema()
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid message (the first problem in `message`, all in `details`)"},
    401: {"description": "No credentials"},
    403: {"description": "The credential lacks the chat (or write) permission"},
    413: {"description": "The body is too large"},
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "/client/chats",
    status_code=201,
    response_model=ChatStored,
    responses=ERRORS,
    openapi_extra=_body(_MESSAGE_SCHEMA),
)
async def post_chat(
    request: Request,
    principal: PrincipalDep,
    chats: ChatsDep,
    origin: OriginDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Record one chat message (the user's message, the reply, the conversation and
    session, the token cost, the user agent and referrer, whether the user is an
    embedded widget's visitor). Sent again with the same `message_id`, it is stored
    once (`duplicate: true`)."""
    raw = await read_json(request, settings.chat_max_body_bytes, what="chat message")
    return await chats.record(principal, raw, origin)


@router.post(
    "/client/chats/batch",
    status_code=201,
    response_model=ChatBatchStored,
    responses=ERRORS,
    openapi_extra=_body(
        {
            "type": "object",
            "required": ["messages"],
            "properties": {"messages": {"type": "array", "minItems": 1, "items": _MESSAGE_SCHEMA}},
            "additionalProperties": False,
        }
    ),
)
async def post_chat_batch(
    request: Request,
    principal: PrincipalDep,
    chats: ChatsDep,
    origin: OriginDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Record many messages at once (`{"messages": [...]}`, at most
    `ANALYSIS_CHAT_BATCH_MAX_MESSAGES`, 500 by default): all or none."""
    raw = await read_json(request, settings.chat_batch_max_body_bytes, what="chat batch")
    return await chats.record_batch(
        principal, raw, origin, max_messages=settings.chat_batch_max_messages
    )
