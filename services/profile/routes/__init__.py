"""HTTP routes, one module per resource, plus the WebSocket and the internal figures."""

from fastapi import APIRouter

from services.profile.routes import internal, live, profiles, websocket

ROUTERS: list[APIRouter] = [profiles.router, live.router, websocket.router, internal.router]
