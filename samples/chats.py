"""Deterministic chat-widget messages (``POST /client/chats``) from addresses in
several countries and networks, private and reserved ones, IPv4 and IPv6, with the
ground truth an export of them must show.

Each :class:`ChatSample` is a request body and the address it must come from (a test
or the benchmark sends it as the gateway's client address: ``X-Forwarded-For`` from a
trusted proxy). :data:`ADDRESSES` says what offline geolocation knows of each address
(GeoLite2 country + ASN of 2024-06-18, as geoip2fast 1.2.2 ships it): country, ASN
organisation and ``ip_type``. Every fifteenth message looks like a spreadsheet formula
(``=HYPERLINK(...)``, ``+``, ``-``, ``@``, tab, carriage return) and a few carry
markup, quotes, emoji and non-Latin text, so exports are checked against hostile text.

``python -m samples.chats OUT.jsonl [--count N] [--seed S]`` writes one
``{"ip": ..., "body": ...}`` per line (the demo and manual runs).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261201
START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Address:
    ip: str
    country_code: str | None
    country: str | None
    isp: str | None
    ip_type: str | None
    weight: int

    @property
    def anonymised(self) -> str:
        """The address as an export shows it to non-administrators: IPv4 without its
        last octet, IPv6 without its last 80 bits."""
        address = ipaddress.ip_address(self.ip)
        bits = 24 if address.version == 4 else 48
        return str(ipaddress.ip_network(f"{self.ip}/{bits}", strict=False).network_address)


# Weights: how many messages of every 100 come from each address.
ADDRESSES: tuple[Address, ...] = (
    Address("81.2.69.142", "GB", "United Kingdom", "Andrews & Arnold Ltd", "Residential", 12),
    Address("86.0.0.1", "GB", "United Kingdom", "Virgin Media", "Residential", 6),
    Address("24.0.0.1", "US", "United States", "COMCAST-7922", "Residential", 14),
    Address("172.58.1.1", "US", "United States", "T-MOBILE-AS21928", "Mobile", 8),
    Address("2600:1000::1", "US", "United States", "CELLCO", "Mobile", 4),
    Address("8.8.8.8", "US", "United States", "GOOGLE", "Datacenter", 5),
    Address("13.107.42.14", "US", "United States", "MICROSOFT-CORP-MSN-AS-BLOCK", "Datacenter", 3),
    Address("90.0.0.1", "FR", "France", "Orange", "Residential", 7),
    Address("2a01:e0a::1", "FR", "France", "Free SAS", "Residential", 4),
    Address("2003::1", "DE", "Germany", "Deutsche Telekom AG", "Residential", 6),
    Address("2a00:1450:4001::1", "DE", "Germany", "GOOGLE", "Datacenter", 2),
    Address("126.0.0.1", "JP", "Japan", "SoftBank Corp.", "Residential", 5),
    Address("177.0.0.1", "BR", "Brazil", "V tal", "Residential", 4),
    Address("49.36.0.1", "IN", "India", "Reliance Jio Infocomm Limited", "Mobile", 5),
    Address("41.0.0.1", "ZA", "South Africa", "Vodacom-VB", "Mobile", 3),
    Address("5.255.255.5", "RU", "Russia", "YANDEX LLC", "Datacenter", 2),
    # A network GeoLite2 knows the country of, not the operator: ISP and ip_type null.
    Address("200.1.1.1", "VE", "Venezuela", None, None, 2),
    Address("192.168.1.100", None, None, None, "Private", 3),
    Address("10.20.30.40", None, None, None, "Private", 2),
    Address("fd12:3456:789a::1", None, None, None, "Private", 1),
    Address("2001:db8::1", None, None, None, "Reserved", 2),
)
BY_IP = {address.ip: address for address in ADDRESSES}

FORMULAS = (
    '=HYPERLINK("http://evil.example/x","click me")',
    "+1 555 0100 call me",
    "-rf is not a flag here",
    "@SUM(A1:A9)",
    "\tindented with a tab",
    "\rstarts with a carriage return",
)
ODD_TEXT = (
    "<script>alert('x')</script> & \"quotes\"",
    "Привет, как дела? 你好 🙂",
    "line one\nline two",
    "tabs\tinside and trailing space ",
)
QUESTIONS = (
    "How can I contact support?",
    "Where is my order?",
    "Can I change my delivery address?",
    "Do you ship to my country?",
    "What are your opening hours?",
    "How do I reset my password?",
    "Is there a student discount?",
    "Can I pay by bank transfer?",
)
REPLIES = (
    "You can contact us at support@example.com.",
    "Your order left our warehouse yesterday.",
    "Yes, until the parcel ships.",
    "We ship to most countries in Europe and the Americas.",
    "Monday to Friday, 9:00 to 17:00.",
    "Use the 'Forgot password' link on the sign-in page.",
)
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
)
REFERRERS = ("https://example.com/", "https://example.com/pricing", "https://shop.example.org/cart")


@dataclass(frozen=True, slots=True)
class ChatSample:
    address: Address
    body: dict[str, Any]

    @property
    def sent_at(self) -> datetime:
        return datetime.fromisoformat(self.body["timestamp"])


def chat_messages(
    count: int,
    *,
    seed: int = SEED,
    start: datetime = START,
    step_seconds: int = 61,
    per_conversation: int = 4,
    prefix: str = "conv",
) -> list[ChatSample]:
    """``count`` messages, oldest first, ``step_seconds`` apart; conversations of
    ``per_conversation`` messages each (the last one shorter), one session and one
    address per conversation."""
    rng = random.Random(seed)
    pool = [a for a in ADDRESSES for _ in range(a.weight)]
    samples: list[ChatSample] = []
    address = pool[0]
    for i in range(count):
        conversation = i // per_conversation
        if i % per_conversation == 0:
            address = rng.choice(pool)
        if i % 15 == 7:
            text = FORMULAS[(i // 15) % len(FORMULAS)]
        elif i % 23 == 11:
            text = ODD_TEXT[(i // 23) % len(ODD_TEXT)]
        else:
            text = rng.choice(QUESTIONS)
        body: dict[str, Any] = {
            "message": text,
            "reply": rng.choice(REPLIES),
            "conversation_id": f"{prefix}_{seed % 10000}_{conversation}",
            "session_id": f"sess_{seed % 10000}_{conversation}",
            "token_cost": rng.randint(20, 400),
            "user_agent": rng.choice(AGENTS),
            "referrer": rng.choice(REFERRERS),
            "is_embed_user": conversation % 5 != 0,
            "message_id": f"msg_{seed}_{i}",
            "timestamp": (start + timedelta(seconds=i * step_seconds)).isoformat(),
        }
        if conversation % 5 == 0:
            body["from_name"] = f"Customer {conversation}"
            body["user_name"] = f"customer{conversation}"
            body["user_email"] = f"customer{conversation}@example.com"
            body["from_user_id"] = f"user_{conversation}"
        samples.append(ChatSample(address, body))
    return samples


@dataclass
class ChatTruth:
    """What an export of ``samples`` (all of them) must say."""

    total_messages: int
    total_tokens: int
    unique_users: int
    conversations: int
    longest_conversation: int
    countries: Counter[str] = field(default_factory=Counter)
    isps: Counter[str] = field(default_factory=Counter)
    ip_types: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, samples: list[ChatSample]) -> ChatTruth:
        per_conversation = Counter(s.body["conversation_id"] for s in samples)
        users = {s.body.get("from_user_id") or s.body["session_id"] for s in samples}
        return cls(
            total_messages=len(samples),
            total_tokens=sum(s.body["token_cost"] for s in samples),
            unique_users=len(users),
            conversations=len(per_conversation),
            longest_conversation=max(per_conversation.values(), default=0),
            countries=Counter(s.address.country for s in samples if s.address.country),
            isps=Counter(s.address.isp for s in samples if s.address.isp),
            ip_types=Counter(s.address.ip_type for s in samples if s.address.ip_type),
        )


def batches(samples: list[ChatSample], size: int) -> Iterator[tuple[Address, list[dict[str, Any]]]]:
    """Consecutive runs of samples from one address, at most ``size`` long: one batch
    request each (the address is the request's, so a batch has one)."""
    run: list[dict[str, Any]] = []
    address: Address | None = None
    for sample in samples:
        if run and (sample.address != address or len(run) >= size):
            assert address is not None
            yield address, run
            run = []
        address = sample.address
        run.append(sample.body)
    if run and address is not None:
        yield address, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    with args.out.open("w", encoding="utf-8") as handle:
        for sample in chat_messages(args.count, seed=args.seed):
            handle.write(json.dumps({"ip": sample.address.ip, "body": sample.body}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
