"""One run of the demo on a running platform: the account, every part at once, the
summary."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from demo.account import AccountError, ensure_account
from demo.client import Platform, PlatformError
from demo.context import DemoContext, WaitTimedOut
from demo.offers import read_offers
from demo.parts import chats, datasets, documents, live, skype
from demo.progress import Progress
from demo.sample_files import SampleFiles
from demo.state import StateDir
from demo.summary import Section, Skipped, render

Part = Callable[[DemoContext], Awaitable[Section | Skipped]]


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _reason(exc: Exception) -> str:
    if isinstance(exc, PlatformError | WaitTimedOut | RuntimeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"  # an HTTP timeout, a lost connection, a bug


def _load() -> str:
    try:
        one, _, _ = os.getloadavg()
    except OSError:
        return ""
    return f"; load average {one:.1f} on {os.cpu_count()} CPUs"


async def run(
    url: str,
    state: StateDir,
    username: str,
    progress: Progress,
    *,
    extra_headers: Mapping[str, str] | None = None,
) -> int:
    """Feed the demo account and print where to look; 0 when every offered part worked."""
    started = time.monotonic()
    async with Platform(url, extra_headers=extra_headers) as platform:
        try:
            offers = await read_offers(platform)
            account = await ensure_account(platform, state, username)
        except (AccountError, PlatformError) as exc:
            progress.error(str(exc))
            return 1
        if account.created:
            progress.info(f'demo account "{username}" registered, with an API key')
        elif account.new_key:
            progress.info(f'demo account "{username}": its key was replaced (the old one failed)')
        else:
            progress.info(f'demo account "{username}" reused (its key from {state.account_file})')
        ctx = DemoContext(platform, progress, SampleFiles(state.samples), offers)
        skipped: list[Skipped] = []
        skype_fed = asyncio.ensure_future(skype.feed(ctx))

        async def chats_after_skype(c: DemoContext) -> Section | Skipped:
            # A chat export holds the Skype export's messages too: the same count each run.
            await asyncio.wait([skype_fed])
            return await chats.feed(c)

        parts: Sequence[tuple[str, Part]] = (
            ("Skype export", lambda _: skype_fed),
            ("Datasets", datasets.feed),
            ("Documents", lambda c: documents.feed(c, skipped)),
            ("Chat messages and exports", chats_after_skype),
            ("Live comments", live.feed),
        )
        results = await asyncio.gather(*(part(ctx) for _, part in parts), return_exceptions=True)
        sections: list[Section] = []
        failed = 0
        for (name, _), result in zip(parts, results, strict=True):
            if isinstance(result, Section):
                sections.append(result)
            elif isinstance(result, Skipped):
                skipped.insert(0, result)
            elif isinstance(result, Exception):
                failed += 1
                reason = _reason(result)
                progress.error(f"{name} failed: {reason}")
                skipped.append(Skipped(name, f"failed: {reason}"))
            else:
                raise result
        seconds = time.monotonic() - started
        header = [
            f"Quarry demo ready in {seconds:.1f} s{_load()}. Every command below works as "
            "printed, from this directory.",
            f"  account:  {account.username}   password {account.password}",
            f"  API key:  {account.api_key}   (header X-API-Key; kept in "
            f"{_shown_path(state.account_file)})",
            f"  API docs: {platform.url('/docs')}",
        ]
        progress.write(render(header, sections, skipped))
    return 1 if failed else 0
