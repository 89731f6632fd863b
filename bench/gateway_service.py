"""The stand-in service of the gateway benchmark (``python -m bench.gateway_service``).

Built with the app factory every Quarry service uses
(``shared.service_app.create_service_app``: request ids, metrics, error handling,
the HTTP niceties), it serves the two kinds of route the benchmark compares:

- ``GET /sessions`` (routed by the gateway to the profile service): as cheap as a
  ``/ping``, a constant JSON answer, no token check;
- ``GET /api/exports`` (routed to the analysis service): what a real read route
  does, the Bearer token verified with ``shared.tokens.TokenVerifier`` and one
  SQL query through a pooled SQLAlchemy session on a real PostgreSQL;

and, standing in for auth, the JWKS and introspection the gateway asks for.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI, Request
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import text

from shared.identity import AuthMethod, Principal, Role
from shared.principal import require_principal
from shared.resources import open_database
from shared.service_app import create_service_app
from shared.settings import CommonSettings
from shared.tokens import TokenVerifier

HOST = "127.0.0.1"
BENCH_API_KEY = "pk_bench_" + "k" * 24
CHEAP_PATH = "/sessions"  # the gateway's table sends it to the profile service
DATABASE_PATH = "/api/exports"  # ... and this one to the analysis service
SCHEMA = "bench"  # the statements below name it literally


class _Keys:
    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.key = Ed25519PrivateKey.generate()
        self.kid = uuid.uuid4().hex[:12]
        public = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}

    async def source(self) -> dict[str, Any]:
        return self.jwks

    def mint(self) -> str:
        now = int(time.time())
        principal = Principal(
            user_id="bench-user",
            username="bench",
            role=Role.USER,
            client_id="bench-client",
            scopes=("*",),
            session_id="bench-session",
            auth_method=AuthMethod.API_KEY,
            token_id=uuid.uuid4().hex,
            expires_at=now + 3600,
        )
        claims = {
            **principal.to_claims(),
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": now,
            "exp": now + 3600,
            "jti": principal.token_id,
            "typ": "access",
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: CommonSettings = app.state.settings
    async with AsyncExitStack() as stack:
        engine = await open_database(stack, app, settings, SCHEMA)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench"))
            await conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS bench.exports (id bigint PRIMARY KEY, "
                    "owner text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO bench.exports SELECT g, 'bench-user', 'export ' || g, now() "
                    "FROM generate_series(1, 10) g ON CONFLICT DO NOTHING"
                )
            )
        yield


def create_service() -> FastAPI:
    settings = CommonSettings(
        log_level="WARNING", database_url=os.environ["BENCH_DATABASE_URL"], database_pool_size=10
    )
    keys = _Keys(settings)
    verifier = TokenVerifier(
        keys.source, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    router = APIRouter()

    @router.get("/internal/jwks")
    async def published_keys() -> dict[str, Any]:
        return keys.jwks

    @router.post("/internal/introspect")
    async def introspect(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("credential") != BENCH_API_KEY:
            return {"active": False}
        return {
            "active": True,
            "access_token": keys.mint(),
            "expires_in": 3600,
            "sid": "bench-session",
            "principal": {"user_id": "bench-user"},
        }

    @router.get("/bench/token")
    async def token() -> dict[str, str]:
        return {"token": keys.mint()}

    @router.get(CHEAP_PATH)
    async def cheap() -> dict[str, Any]:
        return {"active_sessions": [], "total_active": 0}

    @router.get(DATABASE_PATH)
    async def exports(request: Request) -> dict[str, Any]:
        principal = await require_principal(request, verifier)
        async with request.app.state.sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT id, name, created_at FROM bench.exports "
                    "WHERE owner = :owner ORDER BY id LIMIT 20"
                ),
                {"owner": principal.user_id},
            )
            items = [
                {"export_id": row.id, "name": row.name, "created_at": row.created_at.isoformat()}
                for row in rows
            ]
        return {"exports": items, "total": len(items)}

    return create_service_app(
        name="bench",
        title="Gateway benchmark stand-in service",
        settings=settings,
        lifespan=_lifespan,
        routers=[router],
        # Measured behind the baseline gateway too, which sends no gateway proof.
        require_gateway_proof=False,
    )


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.gateway_service")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        "bench.gateway_service:create_service",
        factory=True,
        host=HOST,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
