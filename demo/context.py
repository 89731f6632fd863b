"""What every part of the demo works with, and the one way it waits for the platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from demo.client import Platform
from demo.offers import Offers
from demo.progress import Progress
from demo.sample_files import SampleFiles

T = TypeVar("T")


class WaitTimedOut(Exception):
    """Something the demo waited for did not happen in time."""


@dataclass
class DemoContext:
    platform: Platform
    progress: Progress
    files: SampleFiles
    offers: Offers
    wait_seconds: float = 120.0  # the longest the demo waits for any one job

    async def wait_for(
        self, what: str, poll: Callable[[], Awaitable[T | None]], *, first: float = 0.2
    ) -> T:
        """Call ``poll`` until it answers something (not None), backing off from ``first``
        to 2 s between calls; :class:`WaitTimedOut` after :attr:`wait_seconds`."""
        deadline = time.monotonic() + self.wait_seconds
        pause = first
        while True:
            found = await poll()
            if found is not None:
                return found
            if time.monotonic() + pause > deadline:
                raise WaitTimedOut(f"{what} did not finish within {self.wait_seconds:.0f} s")
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 2.0)
