"""HTTP routes, one module per resource (none yet: this service's issue comes later)."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
