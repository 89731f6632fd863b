"""Outgoing HTTP for the avatar providers, closed to anything but the configured hosts.

Three locks, each enough on its own for the usual tricks:

1. :class:`HostPolicy`: only ``http``/``https`` URLs whose host (and port) is on the
   allowlist built from the settings; no user-info (``http://x@host``); every redirect
   hop is checked again before it is followed (at most ``max_redirects``).
2. :class:`PublicAddressResolver`: an allowed *name* must resolve only to public
   addresses (DNS rebinding of ``cdn.example`` to 127.0.0.1 or 169.254.169.254 is
   refused). An IP literal is used only when the operator listed that very address.
3. Bodies are read in chunks and refused past the cap (after decompression), with a
   total timeout per request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchRefused(Exception):
    """The request (or a redirect) was aimed somewhere the policy does not allow."""


class FetchFailed(Exception):
    """The host answered badly, too slowly, too much, or not at all."""


@dataclass(frozen=True)
class HostRule:
    host: str  # lower-case name or IP literal; "*.example.com" matches below example.com
    port: int | None  # None: the scheme's default port only

    def matches(self, host: str, port: int, default_port: int) -> bool:
        if self.port is None:
            if port != default_port:
                return False
        elif port != self.port:
            return False
        if self.host.startswith("*."):
            suffix = self.host[1:]
            return host.endswith(suffix) and len(host) > len(suffix)
        return host == self.host


def _parse_rule(entry: str) -> HostRule:
    entry = entry.strip().lower()
    if "://" in entry:
        parts = urlsplit(entry)
        return HostRule((parts.hostname or "").strip("[]"), parts.port)
    if entry.startswith("["):  # [::1]:8080
        host, _, rest = entry[1:].partition("]")
        return HostRule(host, int(rest[1:]) if rest.startswith(":") else None)
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return HostRule(host, int(port))
    return HostRule(entry, None)


def host_of_template(template: str) -> str:
    """``host[:port]`` of a URL template such as ``https://x.example/{username}``."""
    parts = urlsplit(template.replace("{username}", "u"))
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class HostPolicy:
    """Which URLs may be fetched."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.rules = tuple(_parse_rule(e) for e in entries if e.strip())

    def check(self, url: str | URL) -> URL:
        """The parsed URL when it may be fetched; :class:`FetchRefused` otherwise."""
        parsed = url if isinstance(url, URL) else URL(str(url))
        scheme = (parsed.scheme or "").lower()
        if scheme not in DEFAULT_PORTS:
            raise FetchRefused(f"scheme {scheme or '(none)'!r} is not fetched")
        if parsed.user is not None or parsed.password is not None:
            raise FetchRefused("URLs with user-info are not fetched")
        host = (parsed.host or "").lower().rstrip(".")
        if not host:
            raise FetchRefused("URL without a host")
        port = parsed.port or DEFAULT_PORTS[scheme]
        if not any(rule.matches(host, port, DEFAULT_PORTS[scheme]) for rule in self.rules):
            raise FetchRefused(f"host {host}:{port} is not an allowed provider host")
        return parsed


class PublicAddressResolver(AbstractResolver):
    """Resolves names, keeping only public addresses (none left: the name is refused)."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise OSError(f"{host} resolves only to non-public addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes


class SafeFetcher:
    """GETs of allowed URLs with a size cap, manual checked redirects and a timeout."""

    def __init__(self, policy: HostPolicy, *, max_redirects: int) -> None:
        self.policy = policy
        self._max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=PublicAddressResolver(), limit=64, ttl_dns_cache=60
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # never an environment proxy: it would see past the policy
            auto_decompress=True,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(
        self,
        url: str,
        *,
        max_bytes: int,
        timeout: float,
        headers: dict[str, str] | None = None,
    ) -> Fetched:
        """The final answer (any status) after following allowed redirects."""
        assert self._session is not None, "SafeFetcher.start() was not called"
        target = self.policy.check(url)
        try:
            async with asyncio.timeout(timeout):
                for _ in range(self._max_redirects + 1):
                    async with self._session.get(
                        target, headers=headers, allow_redirects=False
                    ) as response:
                        if response.status in (301, 302, 303, 307, 308):
                            location = response.headers.get("Location")
                            if not location:
                                raise FetchFailed("redirect without a Location")
                            target = self.policy.check(target.join(URL(location)))
                            continue
                        body = await _read_capped(response, max_bytes)
                        return Fetched(
                            url=str(target),
                            status=response.status,
                            content_type=response.headers.get("Content-Type", "")
                            .split(";")[0]
                            .strip()
                            .lower(),
                            body=body,
                        )
                raise FetchFailed(f"more than {self._max_redirects} redirects")
        except TimeoutError as exc:
            raise FetchFailed(f"no answer within {timeout}s") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
            raise FetchFailed(f"{type(exc).__name__}: {exc}{cause}") from exc


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FetchFailed(f"body of {declared} bytes is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(65_536):
        total += len(chunk)
        if total > max_bytes:
            raise FetchFailed(f"body is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = [
    "FetchFailed",
    "FetchRefused",
    "Fetched",
    "HostPolicy",
    "SafeFetcher",
    "host_of_template",
    "is_public_address",
]
