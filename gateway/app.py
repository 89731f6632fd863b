"""The gateway application: ``create_app()`` for uvicorn (``python -m gateway serve``).

The outermost layers give every request its id, the CORS policy (preflights
answered there; CORS headers on every answer, errors included) and a last-resort
500; then the dispatcher (:mod:`gateway.dispatch`) routes it, to the gateway's own FastAPI
routes (health, monitoring, docs) or to a service. The lifespan opens every
pooled client once and closes them in reverse order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import psutil
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from gateway.auth_client import AuthClient
from gateway.authentication import Authenticator
from gateway.cors import GatewayCORSMiddleware
from gateway.dispatch import GatewayDispatcher
from gateway.introspection_cache import IntrospectionCache
from gateway.openapi import STATIC_URL, MergedOpenApi, static_directory
from gateway.penalties import PenaltyBox
from gateway.platform_health import PlatformHealth
from gateway.proxy import BodyPolicy, HttpProxy
from gateway.rate_limit import GatewayRateLimiter
from gateway.route_table import RouteTable
from gateway.routes import ROUTERS
from gateway.runtime import GatewayRuntime
from gateway.settings import GatewaySettings
from gateway.token_cache import VerifiedTokenCache
from gateway.upstream import UpstreamPool
from gateway.websocket_proxy import WebSocketProxy
from shared.error_handlers import UnhandledErrorMiddleware, install_error_handlers
from shared.http_compat import HeadAsGetMiddleware
from shared.log import configure_logging, get_logger
from shared.proof import proof_headers
from shared.request_context import RequestIdMiddleware
from shared.resources import create_redis
from shared.revocation import RevocationList
from shared.tokens import TokenVerifier

log = get_logger("gateway.app")
DESCRIPTION = (
    "One entry point for every Quarry service: the Skype Parser, PyAnalypt, "
    "Profile & Engagement, File Processing and Chat Export APIs."
)


def _own_document(app: FastAPI, settings: GatewaySettings) -> dict[str, Any]:
    return get_openapi(
        title="Quarry API",
        version=settings.version,
        description=DESCRIPTION,
        routes=app.routes,
    )


@asynccontextmanager
async def open_runtime(app: FastAPI, dispatcher: GatewayDispatcher) -> AsyncIterator[None]:
    """Open the pooled clients, publish the runtime, and close everything on the way out."""
    settings: GatewaySettings = app.state.settings
    async with AsyncExitStack() as stack:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=settings.upstream_max_connections,
                limit_per_host=0,
                # Below uvicorn's 5 s keep-alive, so the pool rarely picks a connection
                # the service is closing.
                keepalive_timeout=4.0,
                enable_cleanup_closed=False,
            ),
            auto_decompress=False,  # bodies pass through byte for byte
            cookie_jar=aiohttp.DummyCookieJar(),  # one client for every user: never keep cookies
            raise_for_status=False,
            trust_env=False,
        )
        stack.push_async_callback(session.close)
        upstream = UpstreamPool(max_connections=settings.upstream_max_connections)
        stack.push_async_callback(upstream.close)
        redis = create_redis(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        auth_client = AuthClient(
            session,
            settings.auth_internal_url,
            settings.internal_token,
            settings.control_timeout_seconds,
            settings.auth_breaker_seconds,
        )
        # While pub/sub is down, revocations come from auth's durable feed.
        revocations = RevocationList(
            redis,
            fallback=auth_client.revocations,
            poll_seconds=settings.revocation_poll_seconds,
        )
        await revocations.start()
        stack.push_async_callback(revocations.stop)
        verifier = TokenVerifier(
            auth_client.jwks,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            revocations=revocations,
        )
        try:
            await verifier.refresh(force=True)
        except Exception as exc:  # auth may start after the gateway; keys come on first use
            log.info("jwks_not_yet_available", error=repr(exc))
        authenticator = Authenticator(
            verifier,
            auth_client,
            revocations,
            introspection_cache=IntrospectionCache(settings.introspection_cache_size),
            token_cache=VerifiedTokenCache(settings.token_cache_size),
            max_cache_seconds=settings.introspection_cache_max_ttl_seconds,
            expiry_margin_seconds=settings.introspection_expiry_margin_seconds,
            negative_ttl_seconds=settings.introspection_negative_ttl_seconds,
        )
        limiter = GatewayRateLimiter(settings)
        stack.push_async_callback(limiter.close)
        table = RouteTable()
        runtime = GatewayRuntime(
            settings=settings,
            table=table,
            session=session,
            redis=redis,
            revocations=revocations,
            verifier=verifier,
            authenticator=authenticator,
            limiter=limiter,
            http_proxy=HttpProxy(
                upstream,
                connect_timeout=settings.upstream_connect_timeout_seconds,
                read_timeout=settings.upstream_timeout_seconds,
                long_read_timeout=settings.upstream_long_timeout_seconds,
                body_policy=BodyPolicy(
                    idle_timeout=settings.client_body_idle_timeout_seconds,
                    min_rate=settings.client_body_min_rate_bytes,
                    grace=settings.client_body_grace_seconds,
                ),
            ),
            websocket_proxy=WebSocketProxy(
                session,
                connect_timeout=settings.upstream_connect_timeout_seconds,
                max_message_bytes=settings.websocket_max_message_bytes,
            ),
            penalties=PenaltyBox(settings.penalised_addresses_max),
            health=PlatformHealth(
                session,
                redis,
                settings.service_urls,
                timeout=settings.health_timeout_seconds,
                cache_seconds=settings.health_cache_seconds,
                heartbeat_key=settings.worker_heartbeat_key,
                heartbeat_max_age=settings.worker_heartbeat_max_age_seconds,
                require_worker=settings.require_worker,
            ),
            openapi=MergedOpenApi(
                session,
                settings.service_urls,
                table,
                lambda: _own_document(app, settings),
                cache_seconds=settings.openapi_cache_seconds,
                timeout=settings.control_timeout_seconds,
                headers=proof_headers(settings.internal_token),
            ),
        )
        # psutil measures CPU between two calls: the first one only starts the count.
        psutil.cpu_percent(interval=None)
        app.state.runtime = runtime
        dispatcher.runtime = runtime
        log.info("gateway_started", port=settings.port, services=settings.service_urls)
        try:
            yield
        finally:
            dispatcher.runtime = None


class Gateway:
    """The ASGI application uvicorn serves."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        inner = FastAPI(
            title="Quarry API",
            version=settings.version,
            description=DESCRIPTION,
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
            redirect_slashes=False,
            lifespan=self._lifespan,
        )
        inner.state.settings = settings
        install_error_handlers(inner)
        for router in ROUTERS:
            inner.include_router(router)
        inner.mount(STATIC_URL, StaticFiles(directory=static_directory()), name="offline-docs")
        self.fastapi = inner
        # HEAD is served as GET without a body on the gateway's own routes; upstream it
        # is forwarded as HEAD, and the service answers it without producing a body.
        self.dispatcher = GatewayDispatcher(HeadAsGetMiddleware(inner))
        cors = GatewayCORSMiddleware(
            UnhandledErrorMiddleware(self.dispatcher),
            origins=settings.cors_origins,
            methods=settings.cors_allow_methods,
            headers=settings.cors_allow_headers,
            expose_headers=settings.cors_expose_headers,
            max_age=settings.cors_max_age_seconds,
        )
        self._app = RequestIdMiddleware(cors)

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(app, self.dispatcher):
            yield

    def lifespan(self) -> Any:
        """The lifespan as an async context manager (for tests that drive the app in-process)."""
        return self._lifespan(self.fastapi)

    @property
    def runtime(self) -> GatewayRuntime:
        assert self.dispatcher.runtime is not None, "the gateway is not running"
        return self.dispatcher.runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> Gateway:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, json=settings.log_json)
    return Gateway(settings)
