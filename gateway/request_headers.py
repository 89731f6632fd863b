"""A request's headers as the gateway reads them: one pass over the list the server
gives, into a small struct that every later step (credentials, the client's address,
body limits, the upstream request) reads instead of scanning the headers again.

The pass also builds the headers a service may see: the client's, minus hop-by-hop
ones (and those its ``Connection`` header names), minus every header that claims an
identity or a network position (the gateway sets those itself), minus ``X-Quarry-*``
(the platform's own: the gateway proof, webhook signatures). The drop sets are
computed once, at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Headers that claim an identity or a network position: only the gateway sets them.
UNTRUSTED_IDENTITY = frozenset(
    {
        b"authorization",
        b"x-api-key",
        b"x-internal-token",
        b"x-user-id",
        b"x-user",
        b"x-username",
        b"x-user-role",
        b"x-client-id",
        b"x-principal",
        b"x-remote-user",
        b"x-forwarded-user",
        b"x-authenticated-user",
        b"x-auth-user",
        b"remote-user",
        b"x-real-ip",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-request-id",
    }
)
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
NOT_FORWARDED = HOP_BY_HOP | UNTRUSTED_IDENTITY
NOT_FORWARDED_WEBSOCKET = NOT_FORWARDED | WEBSOCKET_HANDSHAKE
# The Connection tokens every client sends; any other names a hop-by-hop header.
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close", b"upgrade"})


@dataclass(slots=True)
class RequestHeaders:
    """What the gateway needs of a request's headers."""

    forward: list[tuple[bytes, bytes]] = field(default_factory=list)  # as received
    authorization: str | None = None
    api_key: str | None = None
    cookie: str | None = None
    host: str = ""
    content_length: int | None = None
    bad_content_length: bool = False
    chunked: bool = False
    forwarded_for: str | None = None
    forwarded_proto: str | None = None
    forwarded_host: str | None = None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


def read_headers(raw: Sequence[tuple[bytes, bytes]], *, websocket: bool = False) -> RequestHeaders:
    """The struct of ``raw`` (lower-case names, as ASGI servers give them), in one pass."""
    out = RequestHeaders()
    forward = out.forward
    dropped = NOT_FORWARDED_WEBSOCKET if websocket else NOT_FORWARDED
    hop_tokens: set[bytes] | None = None
    for name, value in raw:
        if name in dropped:
            if name == b"authorization":
                out.authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                out.api_key = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                text = value.decode("latin-1")
                out.forwarded_for = (
                    text if out.forwarded_for is None else f"{out.forwarded_for}, {text}"
                )
            elif name == b"x-forwarded-proto":
                out.forwarded_proto = value.decode("latin-1")
            elif name == b"x-forwarded-host":
                out.forwarded_host = value.decode("latin-1")
            elif name == b"transfer-encoding":
                out.chunked = True
            elif name == b"connection":
                tokens = {t.strip().lower() for t in value.split(b",")} - _PLAIN_CONNECTION
                tokens.discard(b"")
                if tokens:
                    hop_tokens = tokens if hop_tokens is None else hop_tokens | tokens
            continue
        if name.startswith(b"x-quarry-"):
            continue
        if name == b"cookie":
            text = value.decode("latin-1")
            out.cookie = text if out.cookie is None else f"{out.cookie}; {text}"
        elif name == b"host":
            out.host = value.decode("latin-1")
        elif name == b"content-length":
            try:
                out.content_length = int(value)
            except ValueError:
                out.bad_content_length = True
        forward.append((name, value))
    if hop_tokens:  # rare: a Connection header naming further hop-by-hop headers
        out.forward = [(n, v) for n, v in forward if n not in hop_tokens]
    return out
