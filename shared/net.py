"""The client's address as the first trusted proxy saw it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _trusted(address: str, networks: Iterable[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def is_trusted_proxy(address: str | None, trusted: Iterable[str]) -> bool:
    """Whether ``address`` is one of the ``trusted`` proxies (CIDR list)."""
    return address is not None and _trusted(address, parse_networks(tuple(trusted)))


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Iterable[str]) -> str | None:
    """Walk ``X-Forwarded-For`` from the right while hops are trusted proxies.

    A client cannot spoof its address by sending the header itself: entries are
    believed only as far as a trusted proxy appended them.
    """
    networks = parse_networks(tuple(trusted))
    if peer is None or not _trusted(peer, networks) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    candidate = peer
    for hop in reversed(hops):
        candidate = hop
        if not _trusted(hop, networks):
            break
    return candidate
