"""Local stand-ins for everything the profile service talks to, on 127.0.0.1 only.

:class:`FakeTikTok` is one aiohttp server (in its own thread and loop, so the tests'
loop and the service processes can both use it) that plays:

- TikTok's public profile pages (``/@<user>``), shaped as the real ones: the
  ``__UNIVERSAL_DATA_FOR_REHYDRATION__`` JSON, or only the raw ``"avatarLarger"``
  pattern, or only the DOM ``<img data-e2e="user-avatar">``; the "user not exist"
  page (statusCode 10221, with a default picture, as TikTok serves); 404, 500, slow;
- the CDN (``/cdn/<name>``: real JPEG/PNG bytes made with Pillow, junk, huge, redirects);
- avatar generators (``/gen/<style>/svg?seed=``: SVG, broken, scripted SVG);
- TikTok LIVE: the ``/@<user>/live`` page with ``SIGI_STATE``, ``/webcast/room/check_alive/``,
  the sign server (``/webcast/fetch``: the protobuf first fetch naming the push server,
  or 429 with ``Retry-After``) and the push WebSocket (protobuf ``WebcastPushFrame``s
  carrying ``WebcastChatMessage`` and the stream-end ``WebcastControlMessage``).

Every request is logged (``requests``), so a test can assert what was — and was not — asked.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from TikTokLive.proto import (
        CommonMessageData,
        ImageModel,
        ProtoMessageFetchResult,
        ProtoMessageFetchResultBaseProtoMessage,
        WebcastChatMessage,
        WebcastControlMessage,
        WebcastPushFrame,
    )
    from TikTokLive.proto.custom_proto import ControlAction
    from TikTokLiveProto.v3.webcast.model.base.user import User


def jpeg(colour: tuple[int, int, int] = (200, 40, 90), size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def png(colour: tuple[int, int, int, int] = (20, 120, 200, 255), size: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (size, size), colour).save(out, "PNG")
    return out.getvalue()


DEFAULT_PICTURE = jpeg((128, 128, 128))


@dataclass
class FakeUser:
    nickname: str
    avatar: str | None = None  # path on the fake CDN ("/cdn/...") or an absolute URL
    page: str = "json"  # json | pattern | dom | noavatar | notfound | 404 | 500 | slow | other
    live: bool = False
    room_id: int = 0


@dataclass
class Room:
    streamer: str
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    connects: int = 0
    alive: bool = True


class FakeTikTok:
    def __init__(self) -> None:
        self.users: dict[str, FakeUser] = {}
        self.images: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}
        self.generator_mode: dict[str, str] = {}  # style -> ok | broken | script | 500 | slow
        self.rooms: dict[int, Room] = {}
        self.sign_retry_after: float | None = None
        self.sign_calls = 0
        self.requests: list[tuple[str, str]] = []
        self._room_ids = itertools.count(7_300_000_000_000_000_000)
        self._msg_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.slow_seconds = 5.0

    # --- control (any thread) ---

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_image(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        self.images[f"/cdn/{name}"] = (data, content_type)
        return f"/cdn/{name}"

    def add_user(self, username: str, **kwargs: Any) -> FakeUser:
        user = FakeUser(nickname=kwargs.pop("nickname", username.title()), **kwargs)
        if user.live and not user.room_id:
            user.room_id = next(self._room_ids)
        self.users[username] = user
        return user

    def go_live(self, username: str) -> int:
        user = self.users[username]
        user.live = True
        user.room_id = user.room_id or next(self._room_ids)
        self.rooms.setdefault(user.room_id, Room(username)).alive = True
        return user.room_id

    def room_of(self, username: str) -> Room:
        user = self.users[username]
        return self.rooms.setdefault(user.room_id, Room(username))

    def requested(self, prefix: str) -> int:
        return sum(1 for _, path in self.requests if path.startswith(prefix))

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(10)

    def comment(
        self,
        streamer: str,
        text: str,
        *,
        username: str = "viewer1",
        nickname: str = "Viewer One",
        avatar: str | None = None,
        user_id: int = 42,
    ) -> None:
        """Push one comment to every socket of ``streamer``'s room."""
        room = self.room_of(streamer)
        message = WebcastChatMessage(
            common=CommonMessageData(
                method="WebcastChatMessage",
                msg_id=next(self._msg_ids),
                room_id=self.users[streamer].room_id,
                create_time=int(time.time() * 1000),
            ),
            user=User(
                id=user_id,
                nickname=nickname,
                display_id=username,
                avatar_thumb=ImageModel(url_list=[avatar]) if avatar else None,
            ),
            content=text,
        )
        self._call(self._send(room, "WebcastChatMessage", bytes(message)))

    def flood(self, streamer: str, count: int, size: int) -> None:
        """``count`` comments of ``size`` bytes each, as fast as the sockets take them."""
        room = self.room_of(streamer)

        async def send_all() -> None:
            for n in range(count):
                message = WebcastChatMessage(
                    common=CommonMessageData(
                        method="WebcastChatMessage",
                        msg_id=next(self._msg_ids),
                        create_time=int(time.time() * 1000),
                    ),
                    user=User(id=7, nickname="Flood", display_id="flooder"),
                    content=f"{n} " + "x" * size,
                )
                await self._send(room, "WebcastChatMessage", bytes(message))

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(send_all(), self._loop).result(120)

    def end_stream(self, streamer: str) -> None:
        room = self.room_of(streamer)
        room.alive = False
        self.users[streamer].live = False
        control = WebcastControlMessage(
            common=CommonMessageData(method="WebcastControlMessage", msg_id=next(self._msg_ids)),
            action=ControlAction.STREAM_ENDED,
        )
        self._call(self._send(room, "WebcastControlMessage", bytes(control)))

    def drop_sockets(self, streamer: str) -> None:
        """Close the push WebSockets without ending the stream (a network drop)."""
        room = self.room_of(streamer)

        async def close() -> None:
            for ws in list(room.sockets):
                await ws.close()

        self._call(close())

    def socket_count(self, streamer: str) -> int:
        return len([ws for ws in self.room_of(streamer).sockets if not ws.closed])

    async def _send(self, room: Room, method: str, payload: bytes) -> None:
        result = ProtoMessageFetchResult(
            messages=[ProtoMessageFetchResultBaseProtoMessage(method=method, payload=payload)],
            cursor=f"cursor-{time.time_ns()}",
            internal_ext="ext",
            need_ack=False,
        )
        frame = WebcastPushFrame(
            log_id=next(self._msg_ids),
            payload_type="msg",
            payload_encoding="pb",
            payload=bytes(result),
        )
        for ws in list(room.sockets):
            if not ws.closed:
                await ws.send_bytes(bytes(frame))

    # --- server ---

    def start(self) -> FakeTikTok:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(middlewares=[self._log])
            app.router.add_get("/@{user}/live", self._live_page)
            app.router.add_get("/@{user}", self._profile_page)
            app.router.add_get("/cdn/{name:.+}", self._cdn)
            app.router.add_get("/go/{name:.+}", self._redirect)
            app.router.add_get("/gen/{style}/svg", self._generator)
            app.router.add_get("/webcast/room/check_alive/", self._check_alive)
            app.router.add_get("/api-live/user/room/", self._user_room)
            app.router.add_get("/webcast/fetch", self._sign)
            app.router.add_get("/webcast/im/push/v2/", self._push)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-tiktok", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        return await handler(request)

    # --- web pages ---

    def _avatar_url(self, request: web.Request, user: FakeUser) -> str:
        avatar = user.avatar or "/cdn/none.jpeg"
        return avatar if "://" in avatar else f"http://{request.host}{avatar}"

    async def _profile_page(self, request: web.Request) -> web.Response:
        name = request.match_info["user"]
        user = self.users.get(name)
        if user is None or user.page == "notfound":
            # TikTok's answer for an account that does not exist: 200, a default picture.
            data = {
                "__DEFAULT_SCOPE__": {
                    "webapp.user-detail": {"statusCode": 10221, "statusMsg": "user not exist"}
                }
            }
            default = f"http://{request.host}/cdn/default.jpeg"
            return _html(
                f'<html><head><script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" '
                f'type="application/json">{json.dumps(data)}</script></head><body>'
                f'<img data-e2e="user-avatar" src="{default}"><p>Couldn\'t find this account</p>'
                "</body></html>"
            )
        if user.page == "404":
            return web.Response(status=404, text="not here")
        if user.page == "500":
            return web.Response(status=500, text="boom")
        if user.page == "slow":
            await asyncio.sleep(self.slow_seconds)
        url = self._avatar_url(request, user)
        if user.page == "json":
            escaped = url.replace("/", "\\u002F")
            data = {
                "__DEFAULT_SCOPE__": {
                    "webapp.user-detail": {
                        "statusCode": 0,
                        "userInfo": {
                            "user": {
                                "id": "6800000000000000001",
                                "uniqueId": name,
                                "nickname": user.nickname,
                                "avatarLarger": "__URL__",
                                "avatarMedium": "__URL__",
                            }
                        },
                    }
                }
            }
            body = json.dumps(data).replace("__URL__", escaped)
            return _html(
                "<html><head><title>TikTok</title>"
                f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{body}'
                "</script></head><body><div id='app'></div></body></html>"
            )
        if user.page == "other":  # a page about somebody else (a redirect to a default page)
            data = {"u": {"uniqueId": "someone_else", "avatarLarger": url}}
            return _html(
                f'<script id="SIGI_STATE" type="application/json">{json.dumps(data)}</script>'
            )
        if user.page == "pattern":
            escaped = url.replace("/", "\\u002F")
            return _html(
                f'<html><script>window.x = {{"nickname":"{user.nickname}",'
                f'"avatarThumb":"{escaped}"}}</script></html>'
            )
        if user.page == "dom":
            return _html(
                f'<html><body><h1 data-e2e="user-title">{name}</h1>'
                f'<h2 data-e2e="user-subtitle">{user.nickname}</h2>'
                f'<span data-e2e="user-avatar"><img src="{url}" alt="{name}"></span></body></html>'
            )
        return _html("<html><body>nothing here</body></html>")

    async def _cdn(self, request: web.Request) -> web.Response:
        found = self.images.get(request.path)
        if found is None:
            if request.path == "/cdn/default.jpeg":
                return web.Response(body=DEFAULT_PICTURE, content_type="image/jpeg")
            return web.Response(status=404)
        data, content_type = found
        if content_type == "slow":
            await asyncio.sleep(self.slow_seconds)
            content_type = "image/jpeg"
        return web.Response(body=data, content_type=content_type)

    async def _redirect(self, request: web.Request) -> web.Response:
        target = self.redirects.get(request.path, "/cdn/none")
        raise web.HTTPFound(target)

    async def _generator(self, request: web.Request) -> web.Response:
        style = request.match_info["style"]
        seed = request.query.get("seed", "")
        mode = self.generator_mode.get(style, "ok")
        if mode == "500":
            return web.Response(status=500)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if mode == "broken":
            return web.Response(text="<svg><g></svg", content_type="image/svg+xml")
        if mode == "script":
            return web.Response(
                text='<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                content_type="image/svg+xml",
            )
        if mode == "external":
            return web.Response(
                text=(
                    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                    '<image xlink:href="http://169.254.169.254/latest/meta-data"/></svg>'
                ),
                content_type="image/svg+xml",
            )
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" '
            'width="100" height="100">'
            f'<title>{style} {seed}</title><circle cx="50" cy="50" r="40" fill="#2a9d8f"/></svg>'
        )
        return web.Response(text=svg, content_type="image/svg+xml")

    # --- TikTok LIVE ---

    async def _live_page(self, request: web.Request) -> web.Response:
        name = request.match_info["user"]
        user = self.users.get(name)
        if user is None:
            sigi: dict[str, Any] = {"AppContext": {}}
        else:
            sigi = {
                "LiveRoom": {
                    "liveRoomUserInfo": {
                        "user": {
                            "uniqueId": name,
                            "roomId": str(user.room_id or next(self._room_ids)),
                            "status": 2 if user.live else 4,
                        }
                    }
                }
            }
        return _html(
            '<html><script id="SIGI_STATE" type="application/json">'
            f"{json.dumps(sigi)}</script></html>"
        )

    async def _user_room(self, request: web.Request) -> web.Response:
        user = self.users.get(request.query.get("uniqueId", ""))
        if user is None:
            return web.json_response({"message": "user_not_found", "statusCode": 19881007})
        return web.json_response(
            {
                "message": "",
                "data": {
                    "user": {"roomId": str(user.room_id)},
                    "liveRoom": {"status": 2 if user.live else 4},
                },
            }
        )

    async def _check_alive(self, request: web.Request) -> web.Response:
        ids = [int(i) for i in request.query.get("room_ids", "0").split(",") if i]
        data = []
        for room_id in ids:
            room = self.rooms.get(room_id)
            user = next((u for u in self.users.values() if u.room_id == room_id), None)
            alive = bool(user and user.live and (room is None or room.alive))
            data.append({"alive": alive, "room_id": room_id})
        return web.json_response({"data": data})

    async def _sign(self, request: web.Request) -> web.Response:
        self.sign_calls += 1
        if self.sign_retry_after is not None:
            wait = self.sign_retry_after
            return web.json_response(
                {"message": "Too many connections", "limit_label": "minute"},
                status=429,
                headers={
                    "Retry-After": str(wait),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(time.time() + wait)),
                },
            )
        room_id = request.query.get("room_id", "0")
        result = ProtoMessageFetchResult(
            cursor="first-cursor",
            push_server=f"ws://{request.host}/webcast/im/push/v2/",
            route_params={"room_id": room_id, "fake": "1"},
            internal_ext="ext",
            is_first=True,
        )
        return web.Response(
            body=bytes(result),
            content_type="application/protobuf",
            headers={"X-Set-TT-Cookie": "ttwid=fake-ttwid; Path=/"},
        )

    async def _push(self, request: web.Request) -> web.WebSocketResponse:
        room_id = int(request.query.get("room_id", "0"))
        ws = web.WebSocketResponse(protocols=["echo-protocol"], autoping=True)
        await ws.prepare(request)
        room = self.rooms.setdefault(
            room_id,
            Room(next((n for n, u in self.users.items() if u.room_id == room_id), "?")),
        )
        room.sockets.append(ws)
        room.connects += 1
        try:
            async for message in ws:
                if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            if ws in room.sockets:
                room.sockets.remove(ws)
        return ws


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


class OtherServer:
    """A plain HTTP server standing for "an internal address": it must never be asked."""

    def __init__(self) -> None:
        self.hits = 0
        self.fake = FakeTikTok()

    def start(self) -> OtherServer:
        self.fake.start()
        return self

    @property
    def port(self) -> int:
        return self.fake.port

    @property
    def url(self) -> str:
        return self.fake.url

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.fake.requests

    def stop(self) -> None:
        self.fake.stop()


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def generator_templates(fake: FakeTikTok, *styles: str) -> list[str]:
    return [f"{fake.url}/gen/{style}/svg?seed={{username}}" for style in styles]


def iter_lines(text: str) -> Iterator[str]:
    yield from text.splitlines()
