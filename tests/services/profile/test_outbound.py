"""No outgoing request can be aimed at an internal address: avatar URLs and redirects
aimed at 127.0.0.1 (another port), 169.254.169.254, file://, names resolving to
loopback; size caps; SVG and raster validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.profile.avatars.generated import identicon_svg, initials_for, initials_svg
from services.profile.avatars.images import InvalidImage, validate_image, validate_svg
from services.profile.avatars.outbound import (
    FetchFailed,
    FetchRefused,
    HostPolicy,
    SafeFetcher,
)
from tests.services.profile.conftest import AppFactory
from tests.services.profile.fakes import FakeTikTok, OtherServer, jpeg


@pytest.fixture(scope="module")
def internal() -> Iterator[OtherServer]:
    """A server on 127.0.0.1 that stands for an internal service: never to be asked."""
    server = OtherServer().start()
    server.fake.add_image("secret.jpeg", jpeg())
    yield server
    server.stop()


def test_policy_allows_only_listed_hosts_and_ports() -> None:
    policy = HostPolicy(["cdn.example.com", "*.tiktokcdn.com", "127.0.0.1:9999"])
    assert policy.check("https://cdn.example.com/a.jpeg").host == "cdn.example.com"
    assert policy.check("https://p16-sign.tiktokcdn.com/x").host == "p16-sign.tiktokcdn.com"
    assert policy.check("http://127.0.0.1:9999/x").port == 9999
    refused = [
        "file:///etc/passwd",
        "gopher://cdn.example.com/",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1/x",  # the listed address, another port
        "http://127.0.0.1:9998/x",
        "https://cdn.example.com:8443/a",  # a listed name, not its default port
        "https://user:pw@cdn.example.com/a",
        "https://tiktokcdn.com.evil.example/a",
        "https://evil-tiktokcdn.com/a",
        "http://[::1]:9999/x",
        "http://2130706433/x",  # 127.0.0.1 as a number
    ]
    for url in refused:
        with pytest.raises(FetchRefused):
            policy.check(url)


async def test_a_listed_name_that_resolves_to_loopback_is_refused(internal: OtherServer) -> None:
    fetcher = SafeFetcher(HostPolicy([f"localhost:{internal.port}"]), max_redirects=2)
    await fetcher.start()
    try:
        with pytest.raises(FetchFailed, match="non-public"):
            await fetcher.get(
                f"http://localhost:{internal.port}/cdn/secret.jpeg", max_bytes=10**6, timeout=3
            )
    finally:
        await fetcher.close()
    assert internal.requests == []


async def test_redirects_are_followed_only_to_allowed_hosts(
    fake: FakeTikTok, internal: OtherServer
) -> None:
    fake.add_image("ok.jpeg", jpeg())
    fake.redirects["/go/inside"] = "/cdn/ok.jpeg"
    fake.redirects["/go/internal"] = f"{internal.url}/cdn/secret.jpeg"
    fake.redirects["/go/metadata"] = "http://169.254.169.254/latest/meta-data/iam"
    fake.redirects["/go/file"] = "file:///etc/passwd"
    fake.redirects["/go/loop"] = "/go/loop"
    fetcher = SafeFetcher(HostPolicy([fake.host]), max_redirects=3)
    await fetcher.start()
    try:
        ok = await fetcher.get(f"{fake.url}/go/inside", max_bytes=10**6, timeout=3)
        assert ok.status == 200
        assert ok.url.endswith("/cdn/ok.jpeg")
        for target in ("internal", "metadata", "file"):
            with pytest.raises(FetchRefused):
                await fetcher.get(f"{fake.url}/go/{target}", max_bytes=10**6, timeout=3)
        with pytest.raises(FetchFailed, match="redirects"):
            await fetcher.get(f"{fake.url}/go/loop", max_bytes=10**6, timeout=3)
    finally:
        await fetcher.close()
    assert internal.requests == []


async def test_bodies_over_the_cap_are_refused(fake: FakeTikTok) -> None:
    fake.add_image("huge.jpeg", b"\xff" * 300_000)
    fetcher = SafeFetcher(HostPolicy([fake.host]), max_redirects=0)
    await fetcher.start()
    try:
        with pytest.raises(FetchFailed, match="limit"):
            await fetcher.get(f"{fake.url}/cdn/huge.jpeg", max_bytes=100_000, timeout=3)
    finally:
        await fetcher.close()


@pytest.mark.parametrize(
    "target",
    [
        "{internal}/cdn/secret.jpeg",  # 127.0.0.1, a port that is not a provider's
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "{fake}/go/internal",  # an allowed host redirecting inside
    ],
)
async def test_a_profile_page_cannot_aim_the_scraper_inside(
    profile_app: AppFactory, fake: FakeTikTok, internal: OtherServer, name: Any, target: str
) -> None:
    user = name("aimer")
    fake.redirects["/go/internal"] = f"{internal.url}/cdn/secret.jpeg"
    fake.add_user(user, avatar=target.format(internal=internal.url, fake=fake.url))
    async with profile_app() as p:
        response = await p.client.get(f"/profile/{user}", headers=p.headers)
        scraper = p.runtime.avatars.resolver.health["scraper"].snapshot()
    assert response.status_code == 200
    assert response.json()["source"] == "generator"  # fell through, never a broken image
    assert "FetchRefused" in (scraper["last_error"] or "")
    assert internal.requests == []


async def test_a_live_avatar_url_aimed_inside_is_not_fetched(
    profile_app: AppFactory, fake: FakeTikTok, internal: OtherServer, name: Any
) -> None:
    user = name("liveaim")
    fake.add_user(user, page="noavatar")
    async with profile_app() as p:
        await p.runtime.avatars.note_live_avatar(user, f"{internal.url}/cdn/secret.jpeg", "X")
        for task in list(p.runtime.avatars._inflight.values()):
            await task
        response = await p.client.get(f"/profile/{user}", headers=p.headers)
    assert response.json()["source"] == "generator"
    assert internal.requests == []


def test_svg_validation_refuses_scripts_and_external_references() -> None:
    ok = validate_svg(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10"><rect width="1" height="1"/></svg>'
    )
    assert ok.content_type == "image/svg+xml"
    assert ok.width == 10
    bad = [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink"><image x:href="http://169.254.169.254/"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><use href="https://evil.example/a.svg#x"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(http://x/);</style></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(http://x/a)"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>x</p></foreignObject></svg>',
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>',
        b"<svg><g></svg",
        b"<html><body>not svg</body></html>",
    ]
    for data in bad:
        with pytest.raises(InvalidImage):
            validate_image(data, max_bytes=10**6, max_pixels=10**7)


def test_raster_validation_uses_the_bytes_not_the_sender() -> None:
    image = validate_image(jpeg(), min_bytes=100, max_bytes=10**6, max_pixels=10**7)
    assert image.content_type == "image/jpeg"
    assert image.width == 64
    with pytest.raises(InvalidImage):
        validate_image(b"GIF89a" + b"\x00" * 200, max_bytes=10**6, max_pixels=10**7)
    with pytest.raises(InvalidImage):
        validate_image(jpeg(size=64), max_bytes=10**6, max_pixels=100)  # too many pixels
    with pytest.raises(InvalidImage):
        validate_image(b"x" * 50, min_bytes=100, max_bytes=10**6, max_pixels=10**7)


def test_initials_and_identicons_follow_the_spec() -> None:
    assert initials_for("John Doe") == "JD"
    assert initials_for("john_doe") == "JD"
    assert initials_for("example") == "EX"
    assert initials_for("@42anna") == "AN"
    assert initials_for("1234") == "12"
    svg = initials_svg("john_doe", "John Doe").data.decode()
    assert 'fill="rgb(' in svg
    assert ">JD<" in svg
    assert initials_svg("a&b<c", "<script>").data.count(b"<script") == 0
    assert identicon_svg("same").sha256 == identicon_svg("same").sha256
    assert identicon_svg("same").sha256 != identicon_svg("other").sha256
