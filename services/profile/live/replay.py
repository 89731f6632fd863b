"""The replay source: recorded or generated comment streams, no network.

Which stream a streamer name plays (the replay prefix, ``replay_`` by default, is
taken off first):

- ``<name>.jsonl`` in the recordings directory (``services/profile/replays/`` or
  ``PROFILE_LIVE_REPLAY_DIR``): that recording, at its own pace, then the stream ends.
  A line is ``{"after": <seconds since the previous line>, "username", "nickname",
  "user_id", "comment", "avatar_url"?}``; ``{"end": true}`` ends it early.
- a name starting with ``offline``: not live (``/connect`` answers the spec's 500).
- anything else: a generated stream, ``PROFILE_LIVE_REPLAY_RATE`` comments a second,
  forever (deterministic per streamer: the same viewers, the same sentences).

``make up`` (development) sends every streamer here, so ``test_user`` streams too.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from services.profile.live.sources import Activity, Comment, LiveConnection, LiveEvent, NotLive

RECORDINGS = Path(__file__).resolve().parent.parent / "replays"
VIEWERS = [
    ("maya.codes", "Maya"),
    ("quizmaster_tom", "Tom the Quizmaster"),
    ("lena_k", "Lena K."),
    ("pixel.pete", "Pixel Pete"),
    ("sunny_side", "Sunny"),
    ("dj_nova", "DJ Nova"),
    ("grandma_rosa", "Rosa"),
    ("kenji_92", "Kenji"),
]
PHRASES = [
    "Great stream!",
    "hello from Lisbon 👋",
    "what's the answer to question 3?",
    "A!",
    "B is correct",
    "this is so fun",
    "can you say hi to my sister?",
    "🔥🔥🔥",
    "first time here, love it",
    "next question pls",
]


class ReplaySource:
    name = "replay"

    def __init__(
        self,
        *,
        prefix: str,
        rate: float,
        recordings: Path | None = None,
        comment_bytes: int = 0,
    ) -> None:
        self.prefix = prefix
        self.rate = rate
        self.recordings = recordings or RECORDINGS
        self.comment_bytes = comment_bytes

    async def connect(self, streamer: str) -> LiveConnection:
        name = (
            streamer[len(self.prefix) :]
            if self.prefix and streamer.startswith(self.prefix)
            else streamer
        )
        if name.startswith("offline"):
            raise NotLive(f"@{streamer} is not live (replay source: offline stream)")
        recording = self.recordings / f"{name}.jsonl"
        if recording.is_file():
            return RecordedStream(streamer, recording)
        return GeneratedStream(streamer, self.rate, self.comment_bytes)


class _Stream:
    def __init__(self, streamer: str) -> None:
        self.streamer = streamer
        self.closed = asyncio.Event()
        self.ended = False

    async def is_live(self) -> bool:
        return not self.ended

    async def close(self) -> None:
        self.closed.set()

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the stream was closed meanwhile."""
        try:
            await asyncio.wait_for(self.closed.wait(), max(0.0, seconds))
        except TimeoutError:
            return True
        return False


class RecordedStream(_Stream):
    def __init__(self, streamer: str, path: Path) -> None:
        super().__init__(streamer)
        self.lines = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

    async def events(self) -> AsyncIterator[LiveEvent]:
        yield Activity()
        for number, line in enumerate(self.lines):
            if not await self._pause(float(line.get("after", 0))):
                return
            if line.get("end"):
                break
            yield _comment(self.streamer, number, line)
        self.ended = True


class GeneratedStream(_Stream):
    def __init__(self, streamer: str, rate: float, comment_bytes: int) -> None:
        super().__init__(streamer)
        self.rate = rate
        self.comment_bytes = comment_bytes
        self.random = random.Random(streamer)

    async def events(self) -> AsyncIterator[LiveEvent]:
        yield Activity()
        interval = 1.0 / self.rate
        started = time.monotonic()
        number = 0
        while True:
            # Paced against the start, so the rate holds even when a batch is late.
            due = started + number * interval
            if not await self._pause(due - time.monotonic()):
                return
            username, nickname = self.random.choice(VIEWERS)
            text = self.random.choice(PHRASES)
            if self.comment_bytes:
                text = (text + " ") + "·" * max(0, self.comment_bytes - len(text.encode()) - 1)
            yield _comment(
                self.streamer,
                number,
                {"username": username, "nickname": nickname, "comment": text},
            )
            number += 1


def _comment(streamer: str, number: int, line: dict[str, Any]) -> Comment:
    username = str(line.get("username", "viewer"))
    return Comment(
        comment_id=f"replay-{streamer}-{time.time_ns()}-{number}",
        text=str(line.get("comment", "")),
        username=username,
        nickname=str(line.get("nickname", username)),
        user_id=str(line.get("user_id") or zlib.crc32(username.encode())),
        avatar_url=line.get("avatar_url"),
        commented_at=datetime.now(UTC),
    )
