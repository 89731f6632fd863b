"""The gateway's own routes: health, monitoring, documentation."""

from fastapi import APIRouter

from gateway.routes import docs, health, monitoring

ROUTERS: list[APIRouter] = [health.router, monitoring.router, docs.router]
