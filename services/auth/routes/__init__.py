"""HTTP routes, one module per spec dialect, plus the internal routes."""

from fastapi import APIRouter

from services.auth.routes import files, internal, profile, pyanalypt, skype

ROUTERS: list[APIRouter] = [
    skype.router,
    pyanalypt.router,
    profile.router,
    files.router,
    internal.router,
]
