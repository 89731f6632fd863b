"""``ip_type`` of an address: its address class first, then its network's operator.

- ``Private``: RFC 1918, carrier-grade NAT (100.64/10), loopback, link-local, unique
  local IPv6 (fc00::/7): addresses that never identify a place.
- ``Reserved``: every other address that is not globally routable (documentation,
  benchmarking, multicast, reserved, unspecified).
- For a public address, the organisation of its autonomous system (GeoLite2 ASN):
  ``Datacenter`` for hosting, cloud and CDN operators, ``Mobile`` for mobile carriers,
  ``Residential`` for every other access network. ``None`` when the ASN is unknown.

The operator rules are a heuristic over the ASN organisation name (GeoLite2 gives the
name, not a network type): known hosting names and words such as "hosting", "cloud",
"server"; carrier words such as "mobile", "wireless", "cellular". An ISP that also runs
servers reads as residential, a business line too; no VPN detection is attempted (that
needs data no offline package ships). docs/DESIGN.md "Chat data" says the same.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIVATE = "Private"
RESERVED = "Reserved"
DATACENTER = "Datacenter"
MOBILE = "Mobile"
RESIDENTIAL = "Residential"
IP_TYPES = (RESIDENTIAL, MOBILE, DATACENTER, PRIVATE, RESERVED)

_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)

# Operators whose networks are (almost) all servers: clouds, hosting, CDNs.
_DATACENTER_NAMES = re.compile(
    r"amazon|\baws\b|google|microsoft|azure|digitalocean|linode|akamai|\bovh|hetzner|"
    r"vultr|choopa|cloudflare|fastly|alibaba|aliyun|tencent|oracle|softlayer|\bibm\b|"
    r"leaseweb|contabo|scaleway|online s\.a\.s|hostinger|ionos|godaddy|rackspace|"
    r"equinix|\bm247\b|psychz|quadranet|colocrossing|cdn77|datacamp|g-core|gcore|"
    r"upcloud|kamatera|netcup|servers\.com|selectel|timeweb|yandex|facebook|\bmeta\b|"
    r"apple|edgecast|limelight|stackpath|zenlayer|hostwinds|liquid web|ubiquity|"
    r"\bdigital realty|internap|hivelocity|dreamhost|bluehost|hostgator|namecheap|"
    r"sakura internet|idc frontier|\bidc\b",
    re.IGNORECASE,
)
_DATACENTER_WORDS = re.compile(
    r"\b(hosting|hoster|host|hosted|server|servers|datacenter|datacentre|data cent(er|re)|"
    r"data-cent(er|re)|cloud|colo|colocation|vps|dedicated|cdn)\b",
    re.IGNORECASE,
)
_MOBILE_WORDS = re.compile(
    r"mobile|mobil\b|mobility|wireless|cellular|cellco|\bcelular|\bmovil|moviles|"
    r"\bgsm\b|\blte\b|\b[345]g\b|t-mobile|tmobile|vodacom|safaricom|\bmtn\b|"
    r"telkomsel|\bjio\b|celcom|digi telecom|\bsprint\b|metropcs",
    re.IGNORECASE,
)
# Access networks of operators whose name would otherwise read as a cloud.
_ACCESS_EXCEPTIONS = re.compile(r"google[- ]fiber|microsoft[- ]broadband", re.IGNORECASE)


def is_private(address: IPAddress) -> bool:
    return any(address in network for network in _PRIVATE_NETWORKS)


def address_class(address: IPAddress) -> str | None:
    """``Private`` or ``Reserved`` for an address that never leaves a network, else
    ``None`` (a public address: the operator decides)."""
    if is_private(address):
        return PRIVATE
    if not address.is_global or address.is_multicast:
        return RESERVED
    return None


@lru_cache(maxsize=4096)
def operator_type(asn_organisation: str | None) -> str | None:
    """``Datacenter``, ``Mobile`` or ``Residential`` from the ASN organisation name;
    ``None`` when no organisation is known."""
    if not asn_organisation:
        return None
    if _MOBILE_WORDS.search(asn_organisation):
        return MOBILE
    if _ACCESS_EXCEPTIONS.search(asn_organisation):
        return RESIDENTIAL
    if _DATACENTER_NAMES.search(asn_organisation) or _DATACENTER_WORDS.search(asn_organisation):
        return DATACENTER
    return RESIDENTIAL
