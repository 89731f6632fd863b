"""Everything the gateway opens at start-up and uses on every request.

The lifespan (:mod:`gateway.app`) builds one :class:`GatewayRuntime`: one pooled
HTTP client (aiohttp) for upstream calls, one Redis client for revocations,
health and the worker heartbeat, the rate limiter's own Redis pool, the token
verifier and the caches. Nothing here is created per request.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from redis.asyncio import Redis

from gateway.authentication import Authenticator
from gateway.openapi import MergedOpenApi
from gateway.penalties import PenaltyBox
from gateway.platform_health import PlatformHealth
from gateway.proxy import HttpProxy
from gateway.rate_limit import GatewayRateLimiter
from gateway.request_stats import RequestStats
from gateway.route_table import Owner, RouteTable
from gateway.settings import GatewaySettings
from gateway.websocket_proxy import WebSocketProxy
from shared.proof import GATEWAY_PROOF_HEADER, gateway_proof
from shared.revocation import RevocationList
from shared.tokens import TokenVerifier


@dataclass
class GatewayRuntime:
    settings: GatewaySettings
    table: RouteTable
    session: aiohttp.ClientSession
    redis: Redis
    revocations: RevocationList
    verifier: TokenVerifier
    authenticator: Authenticator
    limiter: GatewayRateLimiter
    http_proxy: HttpProxy
    websocket_proxy: WebSocketProxy
    health: PlatformHealth
    openapi: MergedOpenApi
    # Addresses whose failed credentials exhausted their limit: no introspection for them
    # until their penalty ends, so guessing keys cannot flood auth.
    penalties: PenaltyBox
    stats: RequestStats = field(default_factory=RequestStats)
    # Relayed WebSocket sessions by the path's session id.
    websockets: Counter[str] = field(default_factory=Counter)
    started_at: float = field(default_factory=time.time)
    # The gateway proof every service asks of a request to a public route (shared.proof).
    proof_header: tuple[str, str] = field(init=False)
    # Where each owner of a route listens (computed once).
    service_urls: dict[Owner, str] = field(init=False)

    def __post_init__(self) -> None:
        self.proof_header = (GATEWAY_PROOF_HEADER, gateway_proof(self.settings.internal_token))
        urls = self.settings.service_urls
        self.service_urls = {Owner(name): url for name, url in urls.items()}

    @property
    def proof_headers(self) -> dict[str, str]:
        return dict([self.proof_header])
