"""The four tiers against the local fake TikTok: each provider's success and failure,
nonexistent users, TTL expiry with lazy refresh (injected clock), single-flight,
revalidation counts, sha256 deduplication."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import pytest

from services.profile.avatars.generated import initials_for
from tests.services.profile.conftest import AppFactory
from tests.services.profile.fakes import FakeTikTok, jpeg, png


def _image_bytes(body: dict[str, Any]) -> bytes:
    prefix, _, data = body["avatar_data_url"].partition(",")
    assert prefix.startswith("data:image/")
    assert prefix.endswith(";base64")
    return base64.b64decode(data)


async def get(p: Any, username: str) -> tuple[int, dict[str, Any]]:
    response = await p.client.get(f"/profile/{username}", headers=p.headers)
    return response.status_code, response.json()


async def test_scraper_reads_the_embedded_json_and_serves_the_image_inline(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    user = name("json_user")
    picture = jpeg((10, 200, 30))
    fake.add_user(user, nickname="Jason Json", avatar=fake.add_image(f"{user}.jpeg", picture))
    async with profile_app() as p:
        status, body = await get(p, user)
    assert status == 200
    assert body["source"] == "scraper"
    assert body["priority"] == 9
    assert body["nickname"] == "Jason Json"
    assert body["exists"] is True
    assert body["avatar_url"] == f"{fake.url}/cdn/{user}.jpeg"
    assert _image_bytes(body) == picture
    assert body["image_hash"] == hashlib.sha256(picture).hexdigest()
    assert body["cached_at"].endswith("Z")
    assert body["expires_at"] > body["cached_at"]


@pytest.mark.parametrize("page", ["pattern", "dom"])
async def test_scraper_falls_back_to_patterns_then_the_dom(
    profile_app: AppFactory, fake: FakeTikTok, name: Any, page: str
) -> None:
    user = name(f"{page}_user")
    picture = png()
    fake.add_user(
        user,
        nickname="Dom Pattern",
        page=page,
        avatar=fake.add_image(f"{user}.png", picture, "image/png"),
    )
    async with profile_app() as p:
        status, body = await get(p, user)
    assert (status, body["source"]) == (200, "scraper")
    assert body["nickname"] == "Dom Pattern"
    assert _image_bytes(body) == picture
    assert body["avatar_data_url"].startswith("data:image/png;base64,")


async def test_a_nonexistent_user_gets_initials_and_exists_false_not_the_default_picture(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    user = name("ghost")  # not known to the fake: its page says "user not exist"
    before = fake.requested("/cdn/default.jpeg")
    async with profile_app() as p:
        status, body = await get(p, user)
    assert status == 404
    assert body["exists"] is False
    assert body["source"] == "initials"
    assert body["error"] == "PROFILE_NOT_FOUND"
    svg = _image_bytes(body).decode()
    assert "<circle" in svg
    assert f">{initials_for(user)}<" in svg
    assert initials_for(user)[0] == "G"
    # The page's default picture was never fetched, let alone stored as theirs.
    assert fake.requested("/cdn/default.jpeg") == before


@pytest.mark.parametrize(
    ("page", "image"),
    [
        ("500", None),  # the page fails (after retries)
        ("404", None),
        ("noavatar", None),  # a page without any avatar
        ("other", None),  # a page about somebody else
        ("json", b"this is not an image at all" * 10),  # junk behind an image URL
        ("json", b"\xff\xd8\xff\xe0" + b"\x00" * 300),  # a truncated JPEG
    ],
)
async def test_a_failing_scraper_falls_through_to_the_generator(
    profile_app: AppFactory, fake: FakeTikTok, name: Any, page: str, image: bytes | None
) -> None:
    user = name("fallthrough")
    avatar = fake.add_image(f"{user}.jpeg", image) if image else None
    fake.add_user(user, page=page, avatar=avatar)
    async with profile_app() as p:
        status, body = await get(p, user)
        health = p.runtime.avatars.resolver.health["scraper"].snapshot()
    assert status == 200
    assert body["source"] == "generator"
    assert body["priority"] == 3
    assert body["avatar_url"].startswith(f"{fake.url}/gen/adventurer/svg?seed=")
    assert _image_bytes(body).startswith(b"<svg")
    assert health["failures"] >= 1
    assert health["last_error"]


async def test_generators_fail_over_then_the_local_identicon_answers(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    user = name("nogen")
    fake.add_user(user, page="noavatar")
    fake.generator_mode.update({"adv2": "broken", "ident2": "script", "third": "500"})
    templates = [f"{fake.url}/gen/{s}/svg?seed={{username}}" for s in ("adv2", "ident2", "third")]
    async with profile_app(generator_url_templates=templates) as p:
        status, body = await get(p, user)
        health = p.runtime.avatars.resolver.health
    assert (status, body["source"]) == (200, "generator")
    assert body["avatar_url"].startswith("data:image/svg+xml;base64,")  # made here
    assert b"<rect" in _image_bytes(body)
    assert health["generator"].failures == 3
    assert health["local_generator"].successes == 1


async def test_initials_when_no_provider_is_configured(profile_app: AppFactory, name: Any) -> None:
    user = name("john_doe")
    async with profile_app(scraper_url_template=None, generator_url_templates=[]) as p:
        status, body = await get(p, user)
    # The generator tier's local identicon still answers before initials.
    assert (status, body["source"]) == (200, "generator")


async def test_live_avatar_is_the_first_tier(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    user = name("commenter")
    live_picture = jpeg((1, 2, 250))
    live_url = f"{fake.url}{fake.add_image(f'{user}-live.jpeg', live_picture)}"
    fake.add_user(user, avatar=fake.add_image(f"{user}.jpeg", jpeg((9, 9, 9))))
    async with profile_app() as p:
        status, body = await get(p, user)
        assert body["source"] == "scraper"
        await p.runtime.avatars.note_live_avatar(user, live_url, "Live Name")
        await asyncio.gather(*p.runtime.avatars._inflight.values())
        status, body = await get(p, user)
    assert (status, body["source"], body["priority"]) == (200, "live", 10)
    assert _image_bytes(body) == live_picture
    assert body["avatar_url"] == live_url


async def test_ttl_per_source_and_lazy_refresh_serves_stale_while_one_refresh_runs(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    user = name("lazy")
    first, second = jpeg((50, 50, 50)), jpeg((240, 240, 10))
    fake.add_user(user, avatar=fake.add_image(f"{user}-1.jpeg", first))
    async with profile_app(ttl_scraper_seconds=3600) as p:
        _, body = await get(p, user)
        assert _image_bytes(body) == first
        fake.users[user].avatar = fake.add_image(f"{user}-2.jpeg", second)
        pages_before = fake.requested(f"/@{user}")
        p.clock.advance(1800)  # still fresh: no provider call
        _, body = await get(p, user)
        assert _image_bytes(body) == first
        assert fake.requested(f"/@{user}") == pages_before
        p.clock.advance(1801)  # expired: the stale answer at once, one refresh behind it
        answers = await asyncio.gather(*(get(p, user) for _ in range(10)))
        assert all(_image_bytes(b) == first for _, b in answers)
        await asyncio.gather(*p.runtime.avatars._inflight.values())
        assert fake.requested(f"/@{user}") == pages_before + 1
        _, body = await get(p, user)
    assert _image_bytes(body) == second
    assert body["source"] == "scraper"


async def test_concurrent_first_requests_cause_one_fetch(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    user = name("crowd")
    fake.add_user(user, avatar=fake.add_image(f"{user}.jpeg", jpeg((3, 3, 3))))
    async with profile_app() as p:
        runs = p.runtime.avatars.resolutions
        answers = await asyncio.gather(*(get(p, user) for _ in range(25)))
        assert p.runtime.avatars.resolutions == runs + 1
    assert {b["image_hash"] for _, b in answers} == {answers[0][1]["image_hash"]}
    assert fake.requested(f"/@{user}") == 1


async def test_identical_images_are_stored_once(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    shared = jpeg((77, 77, 77))
    users = [name(f"twin{i}") for i in range(3)]
    for i, user in enumerate(users):
        fake.add_user(user, avatar=fake.add_image(f"{user}-{i}.jpeg", shared))
    async with profile_app() as p:
        before = (await p.runtime.avatars.figures())["stored_images"]
        hashes = {(await get(p, u))[1]["image_hash"] for u in users}
        after = (await p.runtime.avatars.figures())["stored_images"]
    assert hashes == {hashlib.sha256(shared).hexdigest()}
    assert after - before <= 1


async def test_revalidate_counts_and_bounded_concurrency(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    good = [name(f"good{i}") for i in range(6)]
    for user in good:
        fake.add_user(user, avatar=fake.add_image(f"{user}.jpeg", jpeg((5, 5, 5))))
    ghost = name("ghost")
    usernames = [*good, ghost, "bad/../name"]
    async with profile_app(revalidate_concurrency=2) as p:
        peak = 0
        resolve = p.runtime.avatars.resolver.resolve

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal peak
            peak = max(peak, len(p.runtime.avatars._inflight))
            return await resolve(*args, **kwargs)

        p.runtime.avatars.resolver.resolve = counting  # type: ignore[method-assign]
        response = await p.client.post(
            "/profiles/revalidate", json={"usernames": usernames}, headers=p.headers
        )
    body = response.json()
    assert response.status_code == 200
    assert body["total_requested"] == 8
    assert body["successful"] == 6
    assert body["failed"] == 2
    assert body["results"][ghost] is False
    assert body["results"]["bad/../name"] is False
    assert all(body["results"][u] for u in good)
    assert 1 <= peak <= 2


async def test_clear_expired_removes_only_expired_profiles(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    short, long = name("short"), name("long")
    fake.add_user(short, avatar=fake.add_image(f"{short}.jpeg", jpeg((1, 1, 1))))
    async with profile_app(ttl_scraper_seconds=60, ttl_generator_seconds=10**6) as p:
        await get(p, short)
        fake.add_user(long, page="noavatar")
        await get(p, long)  # generator: a long TTL
        p.clock.advance(120)
        response = await p.client.post("/cache/clear-expired", headers=p.headers)
        body = response.json()
        assert response.status_code == 200
        assert body["status"] == "success"
        assert body["cleared_profiles"] >= 1
        assert body["message"] == f"Cleared {body['cleared_profiles']} expired profiles"
        figures = await p.runtime.avatars.figures()
        assert figures["expired_profiles"] == 0
        # The long-lived one is still served from the store, without a provider run.
        runs = p.runtime.avatars.resolutions
        p.runtime.avatars.cache.clear()
        status, _ = await get(p, long)
        assert status == 200
        assert p.runtime.avatars.resolutions == runs


async def test_memory_cache_figures_are_counted(
    profile_app: AppFactory, fake: FakeTikTok, name: Any
) -> None:
    users = [name(f"lru{i}") for i in range(3)]
    for user in users:
        fake.add_user(user, page="noavatar")
    async with profile_app(cache_max_entries=2) as p:
        for user in users:
            await get(p, user)
        await get(p, users[2])
        snapshot = p.runtime.avatars.cache.snapshot()
    assert snapshot["entries"] == 2
    assert snapshot["evictions"] >= 1
    assert snapshot["hits"] >= 1
    assert snapshot["bytes"] > 0


async def test_invalid_usernames_are_refused_before_any_request(
    profile_app: AppFactory, fake: FakeTikTok
) -> None:
    before = len(fake.requests)
    async with profile_app() as p:
        for raw in ["user@127.0.0.1", "...", "x" * 65, "a:b", "tab%09name", "169.254.169.254:80"]:
            response = await p.client.get(f"/profile/{raw}", headers=p.headers)
            assert response.status_code == 400, raw
            assert response.json()["error"] == "INVALID_USERNAME"
        # An encoded "/" becomes a path of its own: no such route.
        response = await p.client.get("/profile/a%2F..%2Fb", headers=p.headers)
        assert response.status_code == 404
    assert len(fake.requests) == before


async def test_routes_need_a_token_and_the_permission(profile_app: AppFactory, signer: Any) -> None:
    async with profile_app() as p:
        assert (await p.client.get("/profile/someone")).status_code == 401
        write_only = {"Authorization": f"Bearer {signer.token(scopes=('write',))}"}
        response = await p.client.get("/profile/someone", headers=write_only)
        assert response.status_code == 403
        assert response.json()["error"] == "INSUFFICIENT_PERMISSIONS"
        read_only = {"Authorization": f"Bearer {signer.token(scopes=('read',))}"}
        response = await p.client.post("/cache/clear-expired", headers=read_only)
        assert response.status_code == 403
        assert response.json()["error"] == "INSUFFICIENT_PERMISSIONS"
