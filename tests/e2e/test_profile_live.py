"""TikTok LIVE sessions and the comment WebSocket through the gateway, on a profile
deployment of two replicas (tests/e2e/profile_stack.py) whose live source is the real
TikTokLive adapter against the fake sign server and push WebSocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect

from deploy.platform import RunningPlatform
from tests.e2e.profile_stack import ProfileStack, start_profile_stack
from tests.services.profile.fakes import FakeTikTok, jpeg

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def fake_tiktok() -> Iterator[FakeTikTok]:
    server = FakeTikTok().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(
    platform: RunningPlatform, fake_tiktok: FakeTikTok, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProfileStack]:
    with start_profile_stack(platform, fake_tiktok, tmp_path_factory.mktemp("profile-stack")) as s:
        yield s


@pytest_asyncio.fixture
async def client(
    stack: ProfileStack, platform: RunningPlatform
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway,
        timeout=30,
        headers={"X-API-Key": platform.dev_api_key or "", "X-Forwarded-For": "10.9.9.9"},
    ) as http:
        yield http


def streamer(fake: FakeTikTok, live: bool = True) -> str:
    name = f"streamer_{uuid.uuid4().hex[:8]}"
    fake.add_user(name, live=live)
    if live:
        fake.go_live(name)
    return name


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def next_of(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def comments_of(
    ws: ClientConnection, count: int, timeout: float = 15.0
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            message = json.loads(await ws.recv())
            if message["type"] == "comment":
                got.append(message["data"])
    return got


async def test_connect_comments_stream_end_and_the_live_avatar_tier(
    stack: ProfileStack,
    fake_tiktok: FakeTikTok,
    client: httpx.AsyncClient,
    platform: RunningPlatform,
) -> None:
    name = streamer(fake_tiktok)
    session = f"quiz-{uuid.uuid4().hex[:6]}"
    key = platform.dev_api_key or ""
    # The socket first, as the spec's examples do; comments flow once connected.
    async with connect(stack.ws(0, session, key)) as ws:
        hello = json.loads(await ws.recv())
        assert hello == {
            "type": "connected",
            "session_id": session,
            "message": f"WebSocket connected for session {session}",
        }
        await ws.send(json.dumps({"type": "status"}))
        status = await next_of(ws, "status_response")
        assert status["tiktok_connected"] is False
        response = await client.post("/connect", json={"session_id": session, "username": name})
        assert response.status_code == 200, response.text
        assert response.json()["message"] == f"Connected to @{name}"
        connected = await next_of(ws, "session_status")
        assert connected["status"] == "connected"
        assert connected["tiktok_connected"] is True
        await wait_until(lambda: fake_tiktok.socket_count(name) == 1)
        commenter = f"viewer_{uuid.uuid4().hex[:6]}"
        picture = jpeg((11, 22, 33))
        avatar = fake_tiktok.url + fake_tiktok.add_image(f"{commenter}.jpeg", picture)
        fake_tiktok.add_user(commenter, page="noavatar")
        await asyncio.to_thread(
            fake_tiktok.comment,
            name,
            "Great stream!",
            username=commenter,
            nickname="Viewer Name",
            avatar=avatar,
            user_id=67890,
        )
        await asyncio.to_thread(fake_tiktok.comment, name, "second one")
        first, second = await comments_of(ws, 2)
        assert first["comment"] == "Great stream!"
        assert first["user"] == {
            "username": commenter,
            "nickname": "Viewer Name",
            "userId": "67890",
            "avatar_url": avatar,
        }
        assert first["session_id"] == session
        assert first["timestamp"].endswith("Z")
        assert second["seq"] > first["seq"]
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws, "pong")) == {"type": "pong"}
        await ws.send(json.dumps({"type": "status"}))
        assert (await next_of(ws, "status_response"))["tiktok_connected"] is True
        sessions = (await client.get("/sessions")).json()["active_sessions"]
        mine = next(s for s in sessions if s["session_id"] == session)
        assert mine["comment_count"] == 2
        assert mine["status"] == "connected"
        # The streamer ends: the session is ended and the subscriber told.
        await asyncio.to_thread(fake_tiktok.end_stream, name)
        ended = await next_of(ws, "session_status")
        assert ended["status"] == "ended"
        assert ended["tiktok_connected"] is False
    stored = (await client.get(f"/sessions/{session}/comments")).json()
    assert [c["comment"] for c in stored["comments"]] == ["Great stream!", "second one"]
    assert stored["status"] == "ended"
    assert stored["comment_count"] == 2
    after = (
        await client.get(f"/sessions/{session}/comments?since={stored['comments'][0]['seq']}")
    ).json()
    assert [c["comment"] for c in after["comments"]] == ["second one"]

    # The commenter's avatar fed the live tier.
    async def live_tier() -> bool:
        body = (await client.get(f"/profile/{commenter}")).json()
        return body["source"] == "live"

    await wait_until(live_tier)
    profile = (await client.get(f"/profile/{commenter}")).json()
    assert profile["priority"] == 10
    assert profile["avatar_url"] == avatar
    # Cleanup removes the ended session.
    cleaned = (await client.post("/sessions/cleanup")).json()
    assert cleaned["status"] == "success"
    assert cleaned["cleaned_sessions"] >= 1
    assert (await client.get(f"/sessions/{session}/comments")).status_code == 404


async def test_one_upstream_per_streamer_and_fan_out_across_two_replicas(
    stack: ProfileStack,
    fake_tiktok: FakeTikTok,
    platform: RunningPlatform,
    client: httpx.AsyncClient,
) -> None:
    name = streamer(fake_tiktok)
    key = platform.dev_api_key or ""
    session_a, session_b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(
        base_url=stack.gateways[1], timeout=30, headers={"X-API-Key": key}
    ) as second:
        assert (
            await client.post("/connect", json={"session_id": session_a, "username": name})
        ).status_code == 200
        assert (
            await second.post("/connect", json={"session_id": session_b, "username": name})
        ).status_code == 200
        # Session A watched on both replicas, session B on the second.
        async with (
            connect(stack.ws(0, session_a, key)) as a0,
            connect(stack.ws(1, session_a, key)) as a1,
            connect(stack.ws(1, session_b, key)) as b1,
        ):
            for ws in (a0, a1, b1):
                await next_of(ws, "connected")
            await wait_until(lambda: fake_tiktok.socket_count(name) == 1)
            for n in range(5):
                await asyncio.to_thread(fake_tiktok.comment, name, f"hello {n}")
            for ws, session in ((a0, session_a), (a1, session_a), (b1, session_b)):
                got = await comments_of(ws, 5)
                assert [c["comment"] for c in got] == [f"hello {n}" for n in range(5)]
                assert {c["session_id"] for c in got} == {session}
            assert fake_tiktok.room_of(name).connects == 1  # one upstream for both sessions

            async def all_counted() -> bool:  # replicas publish their counts every 0.5 s
                figures = (await client.get("/status")).json()["websockets"]
                return bool(figures["active_connections"] >= 3)

            await wait_until(all_counted, timeout=15)
            status = (await client.get("/status")).json()
            assert status["websockets"]["replicas"] == 2
            assert {session_a, session_b} <= set(status["connections"]["active_session_ids"])
        # The last session gone, the upstream is released.
        await client.post("/disconnect", json={"session_id": session_a})
        assert fake_tiktok.socket_count(name) == 1
        await second.post("/disconnect", json={"session_id": session_b})
        await wait_until(lambda: fake_tiktok.socket_count(name) == 0)


async def test_a_late_joiner_gets_the_last_comments_or_everything_since(
    stack: ProfileStack,
    fake_tiktok: FakeTikTok,
    platform: RunningPlatform,
    client: httpx.AsyncClient,
) -> None:
    name = streamer(fake_tiktok)
    key = platform.dev_api_key or ""
    session = f"late-{uuid.uuid4().hex[:6]}"
    assert (
        await client.post("/connect", json={"session_id": session, "username": name})
    ).status_code == 200
    await wait_until(lambda: fake_tiktok.socket_count(name) == 1)
    for n in range(30):
        await asyncio.to_thread(fake_tiktok.comment, name, f"early {n}")
    await wait_until(lambda: _count(client, session, 30))
    async with connect(stack.ws(1, session, key)) as late:  # default replay: the last 20
        await next_of(late, "connected")
        replayed = await comments_of(late, 20)
        assert [c["comment"] for c in replayed] == [f"early {n}" for n in range(10, 30)]
        await asyncio.to_thread(fake_tiktok.comment, name, "live after replay")
        assert (await comments_of(late, 1))[0]["comment"] == "live after replay"
    since = replayed[-5]["seq"]
    async with connect(stack.ws(0, session, key, f"since={since}")) as catching_up:
        await next_of(catching_up, "connected")
        got = await comments_of(catching_up, 5)
        assert [c["comment"] for c in got] == [
            "early 26",
            "early 27",
            "early 28",
            "early 29",
            "live after replay",
        ]
    async with connect(stack.ws(0, session, key, "replay=0")) as fresh:
        await next_of(fresh, "connected")
        await asyncio.to_thread(fake_tiktok.comment, name, "only this")
        assert (await comments_of(fresh, 1))[0]["comment"] == "only this"
    await client.post("/disconnect", json={"session_id": session})


async def _count(client: httpx.AsyncClient, session: str, expected: int) -> bool:
    sessions = (await client.get("/sessions")).json()["active_sessions"]
    return any(s["session_id"] == session and s["comment_count"] >= expected for s in sessions)


async def test_a_subscriber_that_reads_nothing_never_stalls_the_others(
    stack: ProfileStack,
    fake_tiktok: FakeTikTok,
    platform: RunningPlatform,
    client: httpx.AsyncClient,
) -> None:
    """Through the gateway, a client that stops reading holds up nobody: the other
    subscriber of the session gets every comment. (Its drop once its queue is full or a
    send stalls, with close code 1008 "slow consumer", is tested in-process in
    tests/services/profile/test_hub.py: loopback TCP buffers absorb megabytes first.)"""
    name = streamer(fake_tiktok)
    key = platform.dev_api_key or ""
    session = f"slow-{uuid.uuid4().hex[:6]}"
    assert (
        await client.post("/connect", json={"session_id": session, "username": name})
    ).status_code == 200
    await wait_until(lambda: fake_tiktok.socket_count(name) == 1)
    total, size = 400, 8_000
    async with (
        connect(stack.ws(0, session, key, "replay=0"), max_queue=1) as slow,
        connect(stack.ws(0, session, key, "replay=0"), max_size=2**22) as fast,
    ):
        await next_of(fast, "connected")
        await next_of(slow, "connected")
        reader = asyncio.create_task(comments_of(fast, total, timeout=90))
        await asyncio.to_thread(fake_tiktok.flood, name, total, size)
        got = await reader
        assert len(got) == total
        assert got[-1]["comment"].startswith(f"{total - 1} ")
    await client.post("/disconnect", json={"session_id": session})


async def test_a_silent_stream_is_reconnected_and_a_dropped_one_too(
    stack: ProfileStack, fake_tiktok: FakeTikTok, client: httpx.AsyncClient
) -> None:
    name = streamer(fake_tiktok)
    session = f"quiet-{uuid.uuid4().hex[:6]}"
    assert (
        await client.post("/connect", json={"session_id": session, "username": name})
    ).status_code == 200
    await wait_until(lambda: fake_tiktok.socket_count(name) == 1)
    room = fake_tiktok.room_of(name)
    # Nothing for longer than PROFILE_LIVE_SILENCE_SECONDS (2 s) while still live.
    await wait_until(lambda: room.connects >= 2, timeout=20)
    # A network drop: reconnected with backoff, the session reconnecting then connected.
    before = room.connects
    await asyncio.to_thread(fake_tiktok.drop_sockets, name)
    await wait_until(
        lambda: room.connects > before and fake_tiktok.socket_count(name) == 1, timeout=20
    )
    sessions = (await client.get("/sessions")).json()["active_sessions"]
    assert next(s for s in sessions if s["session_id"] == session)["status"] in (
        "connected",
        "reconnecting",
    )
    # Silent and no longer live: the watchdog ends the session.
    fake_tiktok.users[name].live = False
    fake_tiktok.room_of(name).alive = False

    async def ended() -> bool:
        rows = (await client.get("/sessions")).json()["active_sessions"]
        return next(s for s in rows if s["session_id"] == session)["status"] == "ended"

    await wait_until(ended, timeout=20)


async def test_connect_errors_not_live_then_429_and_bad_bodies(
    fake_tiktok: FakeTikTok, client: httpx.AsyncClient
) -> None:
    offline = streamer(fake_tiktok, live=False)
    session = f"off-{uuid.uuid4().hex[:6]}"
    failed = await client.post("/connect", json={"session_id": session, "username": offline})
    assert failed.status_code == 500
    body = failed.json()
    assert body["status"] == "error"
    assert body["session_id"] == session
    assert body["message"] == f"Failed to connect to @{offline}. User may not be live."
    assert body["detail"] == body["message"]
    again = await client.post("/connect", json={"session_id": session, "username": offline})
    assert again.status_code == 429
    assert again.json()["error"] == "RATE_LIMIT_EXCEEDED"
    assert 0 < again.json()["retry_after"] <= 30
    assert int(again.headers["retry-after"]) >= 1
    sessions = (await client.get("/sessions")).json()["active_sessions"]
    assert session not in {s["session_id"] for s in sessions}
    for bad in ({}, {"session_id": "x"}, {"username": "y"}, {"session_id": "a b", "username": "y"}):
        response = await client.post("/connect", json=bad)
        assert response.status_code == 400, bad
    assert (await client.post("/disconnect", json={"session_id": "never-was"})).status_code == 404


async def test_the_websocket_takes_a_bearer_token_and_refuses_without(
    stack: ProfileStack, platform: RunningPlatform, client: httpx.AsyncClient
) -> None:
    login = await client.post(
        "/auth/login",
        json={"username": platform.admin_username, "password": platform.admin_password},
        headers={"X-API-Key": ""},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    url = stack.gateway.replace("http", "ws", 1) + "/ws/comments/bearer-session"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        # The client offered permessage-deflate (websockets does by default, as browsers
        # do); the gateway declines it (GATEWAY_WEBSOCKET_PER_MESSAGE_DEFLATE is off).
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert (await next_of(ws, "connected"))["session_id"] == "bearer-session"
        await ws.send("not json")
        assert (await next_of(ws, "error"))["type"] == "error"
    with pytest.raises(Exception) as refused:
        async with connect(url):
            pass
    assert "401" in str(refused.value)


async def test_status_and_monitoring_count_subscribers_across_replicas(
    stack: ProfileStack, platform: RunningPlatform, client: httpx.AsyncClient
) -> None:
    key = platform.dev_api_key or ""
    session = f"count-{uuid.uuid4().hex[:6]}"
    async with connect(stack.ws(0, session, key)) as a, connect(stack.ws(1, session, key)) as b:
        await next_of(a, "connected")
        await next_of(b, "connected")

        async def counted() -> bool:
            stats = (await client.get("/monitoring/cache/stats")).json()["cache_stats"]
            ws = (await client.get("/status")).json()["websockets"]
            return session in ws["session_ids"] and stats["by_category"]["connections"] >= 2

        await wait_until(counted, timeout=10)  # each replica publishes its count every 0.5 s
        status = (await client.get("/status")).json()
        assert status["websockets"]["replicas"] == 2
        stats = (await client.get("/monitoring/cache/stats")).json()["cache_stats"]
        assert stats["by_category"]["connections"] >= 2
