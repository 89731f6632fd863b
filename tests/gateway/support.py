"""Real loopback servers for the gateway's tests: stand-in services (raw ASGI under
uvicorn, so bodies are counted as they stream), a stand-in auth that publishes a
JWKS and answers introspection for the credentials a test registers, and the
signing key that mints the tokens."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from jwt.algorithms import OKPAlgorithm
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.identity import AuthMethod, Principal, Role
from shared.service_app import create_service_app
from shared.settings import CommonSettings

ISSUER, AUDIENCE = "quarry-auth", "quarry"
INTERNAL_TOKEN = "test-internal-token-0123456789"


class KeyRing:
    """auth's signing keys, as far as the gateway can tell."""

    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex[:12]
        self.key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        principal = Principal(
            user_id=overrides.pop("user_id", "u-" + uuid.uuid4().hex[:8]),
            username=overrides.pop("username", "alice"),
            role=Role(overrides.pop("role", "user")),
            client_id=overrides.pop("client_id", "c-1"),
            scopes=tuple(overrides.pop("scopes", ("read", "write"))),
            session_id=overrides.pop("sid", "sess-" + uuid.uuid4().hex[:8]),
            auth_method=AuthMethod(overrides.pop("amr", "password")),
            token_id=uuid.uuid4().hex,
            expires_at=now + 300,
        )
        base = {
            **principal.to_claims(),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": principal.token_id,
            "typ": "access",
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def mint(self, **overrides: Any) -> str:
        return jwt.encode(
            self.claims(**overrides), self.key, algorithm="EdDSA", headers={"kid": self.kid}
        )


async def read_json(receive: Receive) -> Any:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return json.loads(body or b"null")


async def send_json(send: Send, status: int, data: Any, headers: list[Any] | None = None) -> None:
    payload = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@dataclass
class EchoService:
    """A stand-in service: tells what it received, counting streamed bodies."""

    name: str
    healthy: bool = True
    seen: list[dict[str, Any]] = field(default_factory=list)
    largest_body: int = 0

    def openapi(self) -> dict[str, Any]:
        item = {
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                    },
                }
            }
        }
        paths: dict[str, Any] = {
            "/internal/introspect": {"post": item},
            "/health": {"get": item},
        }
        if self.name == "profile":
            paths["/profile/{username}"] = {"get": item}
            paths["/sessions"] = {"get": item}
        if self.name == "ingest":
            paths["/api/upload"] = {"post": item}
            paths["/files/upload"] = {"post": item}
            paths["/webhooks/parser"] = {"post": item}
        return {
            "openapi": "3.1.0",
            "info": {"title": self.name, "version": "1"},
            "paths": paths,
            "components": {
                "schemas": {
                    "Thing": {"type": "object", "properties": {self.name: {"type": "string"}}},
                    "SharedName": {"type": "string", "title": "SharedName"},
                }
            },
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        query = parse_qs(scope["query_string"].decode())
        if path == "/health":
            components = {c: {"status": "healthy"} for c in ("database", "redis", "s3", "sqs")}
            status = "healthy" if self.healthy else "unhealthy"
            await send_json(
                send, 200 if self.healthy else 503, {"status": status, "components": components}
            )
            return
        if path == "/openapi.json":
            await send_json(send, 200, self.openapi())
            return
        if path.endswith("/slow"):
            await asyncio.sleep(float(query.get("seconds", ["5"])[0]))
        if path.endswith("/big-download"):
            size = int(query.get("size", ["0"])[0])
            await self.download(send, size)
            return
        received = 0
        digest = hashlib.sha256()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            digest.update(chunk)
            if not message.get("more_body"):
                break
        self.largest_body = max(self.largest_body, received)
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode().lower()
            headers[key] = f"{headers[key]}, {value.decode()}" if key in headers else value.decode()
        record = {
            "service": self.name,
            "method": scope["method"],
            "path": path,
            "raw_path": (scope.get("raw_path") or b"").decode(),
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body_bytes": received,
            "body_sha256": digest.hexdigest(),
        }
        self.seen.append(record)
        extra: list[Any] = []
        if path.endswith("/cookies"):
            extra = [
                (b"set-cookie", b"a=1; Path=/; HttpOnly"),
                (b"set-cookie", b"b=2; Path=/; SameSite=Lax"),
                (b"x-custom", b"kept"),
                (b"connection", b"x-hop"),
                (b"x-hop", b"dropped"),
            ]
        if path.endswith("/throttled"):  # a service refusing with its own limit (auth's login)
            extra = [
                (b"x-ratelimit-limit", b"5"),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", b"1900000000"),
                (b"retry-after", b"900"),
            ]
        if path.endswith("/cors-widening"):  # a service trying to set its own CORS policy
            extra = [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-credentials", b"true"),
            ]
        status = int(query.get("status", ["200"])[0])
        await send_json(send, status, record, extra)

    async def download(self, send: Send, size: int) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        chunk = b"x" * (1024 * 1024)
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            sent += len(part)
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if "reject" in scope["path"]:
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        await send(
            {
                "type": "websocket.send",
                "text": json.dumps(
                    {
                        "type": "connected",
                        "path": scope["path"],
                        "query": scope["query_string"].decode(),
                        "authorization": headers.get("authorization"),
                        "x-api-key": headers.get("x-api-key"),
                    }
                ),
            }
        )
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.seen.append({"ws_closed_by_client": message.get("code")})
                return
            text = message.get("text")
            if text is not None and text.startswith("big:"):
                await send({"type": "websocket.send", "text": "x" * int(text[4:])})
                continue
            if text is not None and text.startswith("close:"):
                await send({"type": "websocket.close", "code": int(text[6:]), "reason": "bye"})
                return
            if text is not None:
                await send({"type": "websocket.send", "text": "echo:" + text})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


@dataclass
class Grant:
    """What the stand-in auth says about one credential."""

    claims: dict[str, Any]
    expires_in: int = 300


class FakeAuth(EchoService):
    """The stand-in auth service: JWKS and introspection (plus echo for public routes)."""

    def __init__(self, keyring: KeyRing) -> None:
        super().__init__("auth")
        self.keyring = keyring
        self.grants: dict[str, Grant] = {}
        self.introspections = 0
        self.jwks_fetches = 0
        self.introspection_delay = 0.0
        # (handle, until, revoked at): what /internal/revocations answers, by cursor.
        self.revoked: list[tuple[str, float, float]] = []
        self.revocation_polls = 0

    def revoke(self, credential: str) -> None:
        """Revoke a granted credential in the durable record only (Redis hears nothing)."""
        grant = self.grants.pop(credential)
        self.revoked.append((str(grant.claims["sid"]), time.time() + 600, time.time()))

    def grant(self, credential: str, expires_in: int = 300, **claims: Any) -> dict[str, Any]:
        made = self.keyring.claims(**claims)
        self.grants[credential] = Grant(made, expires_in)
        return made

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path.startswith("/internal/"):
            headers = dict(scope["headers"])
            if headers.get(b"x-internal-token", b"").decode() != INTERNAL_TOKEN:
                await send_json(send, 401, {"detail": "internal"})
                return
            if path == "/internal/jwks":
                self.jwks_fetches += 1
                await send_json(send, 200, self.keyring.jwks())
                return
            if path == "/internal/revocations":
                self.revocation_polls += 1
                since = parse_qs(scope["query_string"].decode()).get("since")
                start = float(since[0]) - 1.0 if since else 0.0  # a short overlap
                rows = [{"handle": h, "until": u} for h, u, at in self.revoked if at >= start]
                now = time.time()
                await send_json(send, 200, {"revoked": rows, "as_of": now, "cursor": now})
                return
            if path == "/internal/introspect":
                body = await read_json(receive)
                self.introspections += 1
                if self.introspection_delay:
                    await asyncio.sleep(self.introspection_delay)
                grant = self.grants.get(body["credential"])
                if grant is None:
                    await send_json(send, 200, {"active": False})
                    return
                now = int(time.time())
                claims = {
                    **grant.claims,
                    "iat": now,
                    "exp": now + grant.expires_in,
                    "jti": uuid.uuid4().hex,
                }
                token = jwt.encode(
                    claims, self.keyring.key, algorithm="EdDSA", headers={"kid": self.keyring.kid}
                )
                await send_json(
                    send,
                    200,
                    {
                        "active": True,
                        "access_token": token,
                        "expires_in": grant.expires_in,
                        "sid": claims.get("sid"),
                        "principal": {"user_id": claims["sub"], "username": claims["name"]},
                    },
                )
                return
        await super().http(scope, receive, send)


class LoopbackServer:
    """An ASGI app served by uvicorn on a free loopback port, in the running loop."""

    def __init__(self, app: ASGIApp, *, lifespan: str = "on", http: Any = "auto") -> None:
        self.config = uvicorn.Config(
            app,
            http=http,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan=lifespan,
            loop="none",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
            proxy_headers=False,  # as in production: the gateway decides whom to believe
        )
        self.server = uvicorn.Server(self.config)
        self.task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LoopbackServer:
        # Several servers share the test process: none of them may take over its signals.
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[assignment,method-assign]
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("server stopped during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


@dataclass
class DownloadCounter:
    """What a factory-built service's download routes produced and what they were asked."""

    methods: list[str] = field(default_factory=list)
    produced_bytes: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)


def factory_service(counter: DownloadCounter, *, chunk: int = 64 * 1024) -> Any:
    """A service built like every Quarry service (``create_service_app``: gateway proof,
    HEAD, dialects) whose ``GET /files/download/{size}`` streams ``size`` bytes, counting
    each byte it produces, and whose ``GET /files/echo`` tells the headers it received."""
    router = APIRouter()

    @router.get("/files/download/{size}")
    async def download(size: int) -> StreamingResponse:
        async def body() -> Any:
            sent = 0
            while sent < size:
                part = min(chunk, size - sent)
                counter.produced_bytes += part
                sent += part
                yield b"x" * part

        return StreamingResponse(body(), media_type="application/octet-stream")

    @router.get("/files/echo")
    async def echo(request: Request) -> dict[str, Any]:
        counter.headers.append(dict(request.headers))
        return {"headers": dict(request.headers)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield

    app = create_service_app(
        name="ingest",
        title="factory-built stand-in",
        settings=CommonSettings(internal_token=INTERNAL_TOKEN, log_json=False),
        lifespan=lifespan,
        routers=[router],
    )

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            counter.methods.append(scope["method"])  # as it arrived, before HEAD-as-GET
        await app(scope, receive, send)

    return recording


@dataclass
class RawRequest:
    head: bytes
    body: bytes

    @property
    def line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]


async def read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    """One HTTP/1.1 request off a raw connection (``None`` at end of stream)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return RawRequest(head, body)


class RawUpstream:
    """A service that speaks HTTP by hand, to misbehave exactly as a test needs:
    ``handler(reader, writer, connection_number)`` runs for each connection."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> RawUpstream:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer, self.connections)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def ok_response(body: bytes = b'{"ok": true}') -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def counter_value(name: str, **labels: str) -> float:
    """A Prometheus sample of this process (0 when not yet created)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0
