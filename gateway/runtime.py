"""Everything the gateway opens at start-up and uses on every request.

The lifespan (:mod:`gateway.app`) builds one :class:`GatewayRuntime`: the upstream
connection pool of proxied requests (:mod:`gateway.upstream`), one aiohttp session for
the other upstream calls (WebSocket relay, health, docs, auth), one Redis client for
revocations, health and the worker heartbeat, the rate limiter's own Redis pool, the token
verifier and the caches. Nothing here is created per request.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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
from gateway.upstream import origin_of
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
    proof_header_raw: tuple[bytes, bytes] = field(init=False)  # ... as it goes on the wire
    # Where each owner of a route listens (computed once): its URL, (host, port), and
    # the Host a request without one is given.
    service_urls: dict[Owner, str] = field(init=False)
    service_origins: dict[Owner, tuple[str, int]] = field(init=False)
    service_hosts: dict[Owner, bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.proof_header = (GATEWAY_PROOF_HEADER, gateway_proof(self.settings.internal_token))
        name, value = self.proof_header
        self.proof_header_raw = (name.lower().encode("latin-1"), value.encode("latin-1"))
        urls = self.settings.service_urls
        self.service_urls = {Owner(name): url for name, url in urls.items()}
        self.service_origins = {owner: origin_of(url) for owner, url in self.service_urls.items()}
        self.service_hosts = {
            owner: urlsplit(url).netloc.encode("latin-1")
            for owner, url in self.service_urls.items()
        }

    @property
    def proof_headers(self) -> dict[str, str]:
        return dict([self.proof_header])
