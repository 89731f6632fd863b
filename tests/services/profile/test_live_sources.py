"""The live sources: the real TikTokLive adapter end to end against the fake sign
server and push WebSocket on 127.0.0.1, and the replay source."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.profile.live.replay import ReplaySource
from services.profile.live.sources import Activity, Comment, NotLive, RetryLater, UpstreamLost
from services.profile.live.tiktok import TikTokLiveSource
from services.profile.live.upstream import backoff_delay
from services.profile.settings import ProfileSettings
from tests.services.profile.fakes import FakeTikTok


def tiktok_settings(fake: FakeTikTok) -> ProfileSettings:
    return ProfileSettings(
        environment="test",
        tiktok_sign_url=fake.url,
        tiktok_app_url=fake.url,
        tiktok_webcast_url=f"{fake.url}/webcast",
        live_connect_timeout=5,
    )


async def _comments_until_end(connection: object, count: int) -> list[Comment]:
    got: list[Comment] = []
    async for event in connection.events():  # type: ignore[attr-defined]
        if isinstance(event, Comment):
            got.append(event)
    return got


async def test_the_real_tiktoklive_client_connects_reads_comments_and_sees_the_end(
    fake: FakeTikTok,
) -> None:
    fake.add_user("adapter_live", live=True)
    fake.go_live("adapter_live")
    source = TikTokLiveSource(tiktok_settings(fake))
    signs = fake.sign_calls
    connection = await source.connect("adapter_live")
    assert fake.sign_calls == signs + 1
    reader = asyncio.create_task(_comments_until_end(connection, 2))
    for _ in range(100):
        if fake.socket_count("adapter_live"):
            break
        await asyncio.sleep(0.02)
    avatar = f"{fake.url}/cdn/viewer.jpeg"
    await asyncio.to_thread(
        fake.comment,
        "adapter_live",
        "Great stream!",
        username="viewer123",
        nickname="Viewer Name",
        avatar=avatar,
        user_id=67890,
    )
    await asyncio.to_thread(fake.comment, "adapter_live", "second", username="other")
    await asyncio.sleep(0.2)
    await asyncio.to_thread(fake.end_stream, "adapter_live")
    comments = await asyncio.wait_for(reader, 10)
    assert [c.text for c in comments] == ["Great stream!", "second"]
    first = comments[0]
    assert (first.username, first.nickname, first.user_id) == ("viewer123", "Viewer Name", "67890")
    assert first.avatar_url == avatar
    assert await connection.is_live() is False
    await connection.close()


async def test_offline_and_unknown_streamers_are_not_live(fake: FakeTikTok) -> None:
    fake.add_user("adapter_off", live=False)
    source = TikTokLiveSource(tiktok_settings(fake))
    with pytest.raises(NotLive):
        await source.connect("adapter_off")
    with pytest.raises(NotLive):
        await source.connect("adapter_nobody")


async def test_the_sign_servers_429_becomes_retry_later_with_its_wait(fake: FakeTikTok) -> None:
    fake.add_user("adapter_limited", live=True)
    fake.go_live("adapter_limited")
    fake.sign_retry_after = 42.0
    try:
        with pytest.raises(RetryLater) as caught:
            await TikTokLiveSource(tiktok_settings(fake)).connect("adapter_limited")
    finally:
        fake.sign_retry_after = None
    assert caught.value.retry_after == pytest.approx(42.0)


async def test_a_dropped_push_socket_is_upstream_lost(fake: FakeTikTok) -> None:
    fake.add_user("adapter_drop", live=True)
    fake.go_live("adapter_drop")
    connection = await TikTokLiveSource(tiktok_settings(fake)).connect("adapter_drop")
    for _ in range(100):
        if fake.socket_count("adapter_drop"):
            break
        await asyncio.sleep(0.02)

    async def read() -> None:
        async for _ in connection.events():
            pass

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)
    await asyncio.to_thread(fake.drop_sockets, "adapter_drop")
    with pytest.raises(UpstreamLost):
        await asyncio.wait_for(reader, 10)
    assert await connection.is_live() is True  # the stream itself goes on
    await connection.close()


async def test_replay_plays_recordings_generates_and_knows_offline(tmp_path: Path) -> None:
    (tmp_path / "short.jsonl").write_text(
        '{"after": 0, "username": "a", "nickname": "A", "comment": "one"}\n'
        '{"after": 0.01, "username": "b", "nickname": "B", "comment": "two"}\n'
        '{"end": true}\n'
    )
    source = ReplaySource(prefix="replay_", rate=200, recordings=tmp_path)
    recorded = await source.connect("replay_short")
    events = [e async for e in recorded.events()]
    assert isinstance(events[0], Activity)
    assert [e.text for e in events if isinstance(e, Comment)] == ["one", "two"]
    with pytest.raises(NotLive):
        await source.connect("replay_offline_x")
    generated = await source.connect("replay_anything")
    got: list[Comment] = []
    async for event in generated.events():
        if isinstance(event, Comment):
            got.append(event)
        if len(got) == 20:
            break
    await generated.close()
    assert len({c.comment_id for c in got}) == 20


def test_backoff_is_jittered_capped_and_honours_retry_after() -> None:
    delays = [backoff_delay(a, 1.0, 30.0) for a in range(10) for _ in range(20)]
    assert all(0.5 <= d <= 30.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 50  # jittered
    assert backoff_delay(0, 1.0, 30.0, retry_after=45.0) == 45.0
