"""The public route table of ../shared/API.md: which service owns each path, and
what the gateway does before it forwards a request there.

Every entry carries its authentication policy, its rate-limit class, the largest
body it accepts and (through its path) its error dialect. Documented routes are
listed one by one; a service's namespace (``/files/``, ``/auth/``, ...) is also
routed as a whole so that routes its owner adds later work without touching the
gateway (those fall back to optional authentication: a credential that is sent
must be valid, and the service itself decides whether one is needed).

Matching is exact: ``/api/upload`` and ``/api/upload/`` are two routes, and no
trailing slash is ever added or removed. ``/internal/...``, ``/webhooks/...`` and
the services' ``/health`` and ``/metrics`` are never routed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from shared.dialects import Dialect, dialect_for_path


class Owner(StrEnum):
    GATEWAY = "gateway"
    AUTH = "auth"
    INGEST = "ingest"
    ANALYSIS = "analysis"
    PROFILE = "profile"


class AuthPolicy(StrEnum):
    PUBLIC = "public"  # credentials ignored (and not forwarded)
    OPTIONAL = "optional"  # verified when sent, anonymous otherwise
    REQUIRED = "required"  # 401 without valid credentials


class RateClass(StrEnum):
    API = "api"
    AUTH = "auth"
    CONNECT = "connect"
    STRICT = "strict"
    WEBSOCKET = "websocket"
    EXPORT = "export"  # per user and per client (tenant) at once
    SYSTEM = "system"  # health, monitoring, docs


class BodyLimit(StrEnum):
    DEFAULT = "default"  # GATEWAY_MAX_BODY_BYTES (50 MB)
    UPLOAD = "upload"  # GATEWAY_MAX_UPLOAD_BYTES (1 GiB), the Skype export upload


class Timeout(StrEnum):
    DEFAULT = "default"
    LONG = "long"


_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(:path)?\}")


@dataclass(frozen=True, slots=True)
class Route:
    """One row of the table: ``methods`` on ``template`` go to ``owner``."""

    methods: frozenset[str]
    template: str
    owner: Owner
    auth: AuthPolicy = AuthPolicy.REQUIRED
    rate: RateClass = RateClass.API
    body: BodyLimit = BodyLimit.DEFAULT
    timeout: Timeout = Timeout.DEFAULT
    websocket: bool = False
    # A namespace entry matches every path below ``template`` (which ends in "/").
    prefix: bool = False
    dialect: Dialect = field(init=False)
    pattern: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dialect", dialect_for_path(self.template))
        pattern = None
        if _PARAM.search(self.template):
            regex = ""
            last = 0
            for match in _PARAM.finditer(self.template):
                regex += re.escape(self.template[last : match.start()])
                regex += ".+" if match.group(2) else "[^/]+"
                last = match.end()
            regex += re.escape(self.template[last:])
            pattern = re.compile(f"^{regex}$")
        object.__setattr__(self, "pattern", pattern)

    def matches_path(self, path: str) -> bool:
        if self.prefix:
            return path.startswith(self.template)
        if self.pattern is not None:
            return self.pattern.match(path) is not None
        return path == self.template


def _r(
    methods: str,
    template: str,
    owner: Owner,
    auth: AuthPolicy = AuthPolicy.REQUIRED,
    rate: RateClass = RateClass.API,
    **kwargs: object,
) -> Route:
    return Route(frozenset(methods.split()), template, owner, auth, rate, **kwargs)  # type: ignore[arg-type]


GET, POST, DELETE = "GET HEAD", "POST", "DELETE"
ANY = "GET HEAD POST PUT PATCH DELETE OPTIONS"
A, IN, N, P, G = Owner.AUTH, Owner.INGEST, Owner.ANALYSIS, Owner.PROFILE, Owner.GATEWAY
PUBLIC, OPTIONAL, REQUIRED = AuthPolicy.PUBLIC, AuthPolicy.OPTIONAL, AuthPolicy.REQUIRED
AUTH, STRICT, SYSTEM = RateClass.AUTH, RateClass.STRICT, RateClass.SYSTEM

ROUTES: tuple[Route, ...] = (
    # --- gateway (Skype system routes, Profile monitoring, docs) ---
    _r(GET, "/api/health", G, PUBLIC, SYSTEM),
    _r(GET, "/api/version", G, PUBLIC, SYSTEM),
    _r(GET, "/healthcheck", G, PUBLIC, SYSTEM),
    _r(GET, "/monitoring/ping", G, PUBLIC, SYSTEM),
    _r(GET, "/monitoring/detailed", G, PUBLIC, SYSTEM),
    _r(GET, "/monitoring/metrics", G, PUBLIC, SYSTEM),
    _r(GET, "/monitoring/cache/stats", G, PUBLIC, SYSTEM),
    _r(GET, "/status", G, REQUIRED),
    _r(GET, "/metrics", G, PUBLIC, SYSTEM),
    _r(GET, "/openapi.json", G, PUBLIC, SYSTEM),
    _r(GET, "/docs", G, PUBLIC, SYSTEM),
    _r(GET, "/docs/oauth2-redirect", G, PUBLIC, SYSTEM),
    _r(GET, "/redoc", G, PUBLIC, SYSTEM),
    _r(GET, "/static-offline-docs/{name}", G, PUBLIC, SYSTEM),
    # --- auth: Skype ---
    _r(POST, "/api/register", A, PUBLIC, AUTH),
    _r(POST, "/api/login", A, PUBLIC, AUTH),
    _r(POST, "/api/logout", A, REQUIRED),
    _r(GET, "/api/profile", A, REQUIRED),
    _r(POST, "/api/regenerate-api-key", A, REQUIRED, AUTH),
    # --- auth: PyAnalypt ---
    _r(POST, "/api/auth/register/", A, PUBLIC, AUTH),
    _r(POST, "/api/auth/login/", A, PUBLIC, AUTH),
    _r(POST, "/api/auth/refresh/", A, PUBLIC, AUTH),
    _r(GET, "/api/auth/user/", A, REQUIRED),
    # The same four without the trailing slash (a client that drops Django's "/").
    _r(POST, "/api/auth/register", A, PUBLIC, AUTH),
    _r(POST, "/api/auth/login", A, PUBLIC, AUTH),
    _r(POST, "/api/auth/refresh", A, PUBLIC, AUTH),
    _r(GET, "/api/auth/user", A, REQUIRED),
    _r(ANY, "/api/auth/", A, OPTIONAL, AUTH, prefix=True),
    # --- auth: Profile (register is optional: an admin caller may set a role) ---
    _r(POST, "/auth/register", A, OPTIONAL, AUTH),
    _r(POST, "/auth/login", A, PUBLIC, AUTH),
    _r(GET, "/auth/api-keys", A, REQUIRED),
    _r(POST, "/auth/api-keys/generate", A, REQUIRED, AUTH),
    # --- auth: Files ---
    _r(POST, "/auth/registration", A, PUBLIC, AUTH),
    _r(POST, "/auth/logout", A, REQUIRED),
    _r(POST, "/auth/enable-2fa", A, REQUIRED, AUTH),
    _r(POST, "/auth/disable-2fa", A, REQUIRED, AUTH),
    _r(POST, "/auth/invalidate-other-sessions", A, REQUIRED),
    _r(POST, "/auth/logout-others", A, REQUIRED),
    _r(ANY, "/auth/", A, OPTIONAL, prefix=True),
    # --- ingest ---
    _r(POST, "/api/upload", IN, REQUIRED, body=BodyLimit.UPLOAD, timeout=Timeout.LONG),
    _r(GET, "/api/status/{task_id}", IN, REQUIRED),
    _r(POST, "/api/upload/", IN, OPTIONAL, timeout=Timeout.LONG),  # guests by session_id
    _r(POST, "/files/upload", IN, REQUIRED, timeout=Timeout.LONG),
    _r(GET, "/files/storage", IN, REQUIRED),
    _r(GET, "/files/download/{file_id}", IN, REQUIRED),
    _r(DELETE, "/files/remove/{file_id}", IN, REQUIRED),
    _r(POST, "/files/convert", IN, REQUIRED, timeout=Timeout.LONG),
    _r(POST, "/files/parse-file", IN, REQUIRED, timeout=Timeout.LONG),
    _r(POST, "/files/tonality-analysis", IN, REQUIRED, timeout=Timeout.LONG),
    _r(ANY, "/files/", IN, REQUIRED, prefix=True),
    # Jobs: polling, SSE events, "Prefer: wait=N".
    _r(GET, "/jobs", IN, OPTIONAL),
    _r(ANY, "/jobs/", IN, OPTIONAL, timeout=Timeout.LONG, prefix=True),
    # --- analysis ---
    _r(GET, "/api/exports", N, REQUIRED),
    _r(DELETE, "/api/exports/{export_id}", N, REQUIRED),
    _r(GET, "/api/analysis/{export_id}", N, REQUIRED),
    _r(GET, "/api/report/{export_id}", N, REQUIRED),
    _r(ANY, "/api/upload/", N, OPTIONAL, prefix=True),  # dataset results: /api/upload/{id}/...
    _r(POST, "/client/export/chats", N, REQUIRED, RateClass.EXPORT, timeout=Timeout.LONG),
    _r(GET, "/client/export/chats/download", N, REQUIRED, RateClass.EXPORT, timeout=Timeout.LONG),
    # A kept export and the audit log are reads, not exports: the api rate class.
    _r(GET, "/client/export/chats/{export_id}", N, REQUIRED),
    _r(GET, "/client/export/chats/{export_id}/download", N, REQUIRED, timeout=Timeout.LONG),
    _r(GET, "/client/export/audit", N, REQUIRED),
    _r(ANY, "/client/export/", N, REQUIRED, RateClass.EXPORT, timeout=Timeout.LONG, prefix=True),
    _r(POST, "/client/chats", N, REQUIRED),  # chat-widget ingestion (API.md)
    _r(POST, "/client/chats/batch", N, REQUIRED),
    _r(ANY, "/client/", N, OPTIONAL, prefix=True),  # chat ingestion (POST /client/chats), ...
    # --- profile ---
    _r(GET, "/profile/{username}", P, REQUIRED),
    _r(ANY, "/profile/", P, REQUIRED, prefix=True),
    _r(POST, "/profiles/revalidate", P, REQUIRED, STRICT),
    _r(ANY, "/profiles/", P, REQUIRED, prefix=True),
    _r(POST, "/cache/clear-expired", P, REQUIRED, STRICT),
    _r(ANY, "/cache/", P, REQUIRED, STRICT, prefix=True),
    _r(POST, "/connect", P, REQUIRED, RateClass.CONNECT),
    _r(POST, "/disconnect", P, REQUIRED),
    _r(GET, "/sessions", P, REQUIRED),
    _r(POST, "/sessions/cleanup", P, REQUIRED, STRICT),
    _r(ANY, "/sessions/", P, REQUIRED, prefix=True),
    _r(GET, "/ws/comments/{session_id}", P, REQUIRED, RateClass.WEBSOCKET, websocket=True),
)

# Never routed, whatever a namespace entry would say.
NEVER_ROUTED_PREFIXES = ("/internal/", "/webhooks/")
NEVER_ROUTED_EXACT = frozenset({"/internal", "/webhooks", "/health"})


@dataclass(frozen=True, slots=True)
class Match:
    """What the table says about one request."""

    route: Route | None
    # The path exists but not for this method (405 rather than 404).
    method_not_allowed: bool = False


class RouteTable:
    """Exact routes first, then templated ones, then namespaces (longest first)."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self.routes = routes
        self._exact: dict[str, list[Route]] = {}
        self._templated: list[Route] = []
        self._prefixes: list[Route] = []
        for route in routes:
            if route.prefix:
                self._prefixes.append(route)
            elif route.pattern is not None:
                self._templated.append(route)
            else:
                self._exact.setdefault(route.template, []).append(route)
        self._prefixes.sort(key=lambda r: len(r.template), reverse=True)

    def match(self, method: str, path: str, *, websocket: bool = False) -> Match:
        """The route for ``method`` on ``path`` (``websocket`` for an upgrade).

        Exact routes win over templated ones, which win over namespaces; a path
        that exists only for other methods is a 405, an unknown one a 404.
        """
        if path.startswith(NEVER_ROUTED_PREFIXES) or path in NEVER_ROUTED_EXACT:
            return Match(None)
        path_known = False
        for route in self._candidates(path):
            if route.prefix and path_known and method == "OPTIONS":
                break  # a documented path: OPTIONS lists its methods, not its namespace's
            path_known = True
            if route.websocket != websocket:
                continue
            if websocket or method in route.methods:
                return Match(route)
        return Match(None, method_not_allowed=path_known)

    def allowed_methods(self, path: str) -> list[str]:
        """The methods the table routes on ``path`` (plain HTTP), for ``Allow`` headers."""
        methods: set[str] = set()
        for route in self._candidates(path):
            if route.prefix and methods:
                break  # a documented path: its own methods, not its namespace's
            if not route.websocket:
                methods |= route.methods
        return sorted(methods)

    def _candidates(self, path: str) -> Iterator[Route]:
        yield from self._exact.get(path, ())
        for route in self._templated:
            if route.matches_path(path):
                yield route
        for route in self._prefixes:
            if route.matches_path(path):
                yield route

    def for_owner(self, owner: Owner) -> list[Route]:
        return [r for r in self.routes if r.owner is owner]

    def exposes(self, owner: Owner, method: str, path_template: str) -> bool:
        """Whether ``owner``'s documented ``method path_template`` is reachable through the
        gateway (used to filter the services' OpenAPI documents)."""
        if path_template.startswith(NEVER_ROUTED_PREFIXES) or path_template in (
            NEVER_ROUTED_EXACT | {"/metrics", "/openapi.json"}
        ):
            return False
        # Templates use "{name}" in both worlds; a concrete stand-in makes them comparable.
        concrete = _PARAM.sub("x", path_template)
        found = self.match(method.upper(), concrete, websocket=False).route
        return found is not None and found.owner is owner
