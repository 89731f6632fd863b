"""A live comment stream: the replay source's recorded quiz (``replay_demo``, about 15
seconds of comments; docs: README "Profiles and live comments") connected to the demo
session, read over the WebSocket as a client would. A second run connects the same
session id again: an ended session starts afresh, a running one is left as it is."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import websockets

from demo.context import DemoContext
from demo.summary import Look, Section, Skipped

NEEDS = ("POST /connect", "GET /sessions/{session_id}/comments")
SESSION_ID = "quarry-demo"
STREAMER = "replay_demo"
ENOUGH = 3  # comments seen before the demo moves on (the stream goes on without it)
READ_SECONDS = 20.0


def _python() -> str:
    """This interpreter, as short as it can be written from the current directory."""
    executable = Path(sys.executable)
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return str(executable)


async def _read(url: str) -> tuple[list[dict[str, Any]], str | None]:
    """The comments the socket gives within :data:`READ_SECONDS` (stops at
    :data:`ENOUGH`), and the last session status it announced."""
    comments: list[dict[str, Any]] = []
    status = None
    deadline = time.monotonic() + READ_SECONDS
    async with websockets.connect(url, open_timeout=15, close_timeout=2) as socket:
        while len(comments) < ENOUGH and status not in ("ended", "disconnected"):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                raw = await asyncio.wait_for(socket.recv(), left)
            except TimeoutError:
                break
            message = json.loads(raw)
            if message.get("type") == "comment":
                comments.append(message["data"])
            elif message.get("type") == "session_status":
                status = message.get("status")
    return comments, status


async def feed(ctx: DemoContext) -> Section | Skipped:
    what = "Live comments"
    if missing := ctx.offers.missing(*NEEDS):
        return Skipped(what, f"the platform does not serve {', '.join(missing)}")
    platform = ctx.platform
    await platform.post_json("/connect", {"session_id": SESSION_ID, "username": STREAMER})
    socket_url = platform.websocket_url(f"/ws/comments/{SESSION_ID}")
    comments, _ = await _read(socket_url)
    if comments:
        last = comments[-1]
        said = f'latest @{last["user"]["username"]}: "{last["comment"]}"'
    else:
        said = "no comment yet"
    ctx.progress.info(
        f"live session {SESSION_ID} on @{STREAMER}: {len(comments)} comments read ({said})"
    )
    watch = f"{shlex.quote(_python())} -m websockets {shlex.quote(socket_url)}"
    return Section(
        f'Live comments: session "{SESSION_ID}" on @{STREAMER}, the recorded quiz '
        f"({len(comments)} comments read so far, {said})",
        [
            Look(
                "the comments as they arrive, over the WebSocket (Ctrl-C stops it)",
                watch,
            ),
            Look(
                "the stored comments (JSON)",
                platform.curl(f"/sessions/{SESSION_ID}/comments"),
            ),
        ],
    )
