"""The TikTok LIVE source: the TikTokLive library (``TikTokLive==7.0.1``) behind the
:class:`~services.profile.live.sources.LiveSource` interface.

Its sign server (``PROFILE_TIKTOK_SIGN_URL``), TikTok's web and webcast URLs
(``PROFILE_TIKTOK_APP_URL``, ``PROFILE_TIKTOK_WEBCAST_URL``) and, optionally, the push
WebSocket (``PROFILE_TIKTOK_PUSH_URL``; normally the sign server names it) come from the
settings, so the tests run this very adapter against a fake sign server and a fake push
WebSocket on 127.0.0.1.

Errors are translated: offline or unknown users are :class:`NotLive`; the sign server's
429 is :class:`RetryLater` with its own wait (``Retry-After``, else ``RateLimit-Reset``,
else the library's figure); anything else is :class:`UpstreamLost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from services.profile.live.sources import (
    Activity,
    Comment,
    LiveConnection,
    LiveEvent,
    NotLive,
    RetryLater,
    UpstreamLost,
)
from services.profile.settings import ProfileSettings
from shared.log import get_logger

log = get_logger("services.profile.live.tiktok")
_END = object()
_LOST = object()


def _library() -> Any:
    # TikTokLive imports websockets' legacy client, which warns on import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import TikTokLive
        import TikTokLive.client.errors
        import TikTokLive.client.web.routes.fetch_room_id_live_html
        import TikTokLive.events
    return TikTokLive


def _retry_after(exc: Any) -> float:
    response = getattr(exc, "response", None)
    headers = response.headers if response is not None else {}
    for name in ("Retry-After", "retry-after"):
        if headers.get(name):
            with contextlib.suppress(ValueError):
                return max(0.0, float(headers[name]))
    if headers.get("RateLimit-Reset"):
        with contextlib.suppress(ValueError):
            return max(0.0, float(headers["RateLimit-Reset"]) - time.time())
    with contextlib.suppress(Exception):
        return float(exc.retry_after)
    return 60.0


class TikTokLiveSource:
    name = "tiktok"

    def __init__(self, settings: ProfileSettings) -> None:
        self.settings = settings
        lib = _library()
        defaults = lib.client.web.web_settings.WebDefaults
        # Process-wide in the library; one configuration per process here.
        defaults.tiktok_app_url = settings.tiktok_app_url.rstrip("/")
        defaults.tiktok_webcast_url = settings.tiktok_webcast_url.rstrip("/")
        defaults.tiktok_sign_url = settings.tiktok_sign_url.rstrip("/")
        self._lib = lib

    async def connect(self, streamer: str) -> LiveConnection:
        lib = self._lib
        errors = lib.client.errors
        web_kwargs: dict[str, Any] = {
            "signer_kwargs": {
                "sign_api_base": self.settings.tiktok_sign_url.rstrip("/"),
                "sign_api_key": self.settings.tiktok_sign_api_key,
            },
            "httpx_kwargs": {"timeout": self.settings.live_connect_timeout, "trust_env": False},
        }
        ws_kwargs: dict[str, Any] = {}
        if self.settings.tiktok_push_url:
            ws_kwargs["uri"] = self.settings.tiktok_push_url
        client = lib.TikTokLiveClient(
            unique_id=streamer, web_kwargs=web_kwargs, ws_kwargs=ws_kwargs
        )
        connection = TikTokConnection(client, lib)
        try:
            async with asyncio.timeout(self.settings.live_connect_timeout):
                await client.start(fetch_live_check=True)
        except (errors.UserOfflineError, errors.UserNotFoundError) as exc:
            await connection.close()
            raise NotLive(f"@{streamer} is not live ({type(exc).__name__})") from exc
        except errors.SignatureRateLimitError as exc:
            await connection.close()
            raise RetryLater(_retry_after(exc), "the sign server is rate limiting") from exc
        except lib.client.web.routes.fetch_room_id_live_html.FailedParseRoomIdError as exc:
            await connection.close()
            raise NotLive(f"@{streamer} has no LIVE room ({exc})") from exc
        except Exception as exc:
            await connection.close()
            raise UpstreamLost(f"{type(exc).__name__}: {exc}") from exc
        connection.room_id = client.room_id
        return connection


class TikTokConnection:
    def __init__(self, client: Any, lib: Any) -> None:
        self.client = client
        self.room_id: int | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=10_000)
        events = lib.events
        client.add_listener(events.CommentEvent, self._on_comment)
        client.add_listener(events.LiveEndEvent, lambda _: self._put(_END))
        client.add_listener(events.DisconnectEvent, lambda _: self._put(_LOST))
        client.add_listener(events.WebsocketResponseEvent, lambda _: self._put(Activity()))

    def _put(self, item: Any) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(item)

    def _on_comment(self, event: Any) -> None:
        user = event.user
        avatar = None
        with contextlib.suppress(Exception):
            urls = list(user.avatar_thumb.url_list) if user.avatar_thumb else []
            avatar = urls[0] if urls else None
        created_ms = getattr(getattr(event, "common", None), "create_time", 0) or 0
        commented_at = (
            datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else datetime.now(UTC)
        )
        msg_id = getattr(getattr(event, "common", None), "msg_id", 0)
        self._put(
            Comment(
                comment_id=str(msg_id or time.time_ns()),
                text=str(event.content or ""),
                username=str(
                    getattr(user, "display_id", "") or getattr(user, "unique_id", "") or ""
                ),
                nickname=str(getattr(user, "nickname", "") or ""),
                user_id=str(getattr(user, "id", "") or ""),
                avatar_url=avatar,
                commented_at=commented_at,
            )
        )

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if item is _LOST:
                raise UpstreamLost("the push WebSocket closed")
            yield item

    async def is_live(self) -> bool:
        if self.room_id is None:
            return False
        try:
            return bool(await self.client.web.fetch_is_live(room_id=self.room_id))
        except Exception as exc:
            log.info("live_check_failed", error=str(exc))
            return True  # unknown: assume live and reconnect, the connect will tell

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()
        # Not client.close(): it runs the loop itself, which fails inside a running loop.
        with contextlib.suppress(Exception):
            await self.client.web.close()
