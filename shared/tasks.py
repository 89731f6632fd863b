"""Stopping a process's background tasks at shutdown, within a bound.

``task.cancel(); await task`` hangs for ever when the task swallows its cancellation
(a Redis or database call caught mid-command can, and a retry loop around it then goes
on retrying): a lifespan that waits for it never ends, and the process is killed
instead of stopping. :func:`stop_tasks` cancels, waits at most ``timeout`` seconds, and
names in the log the tasks that did not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from shared.log import get_logger

log = get_logger("shared.tasks")

STOP_TIMEOUT_SECONDS = 5.0


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any] | None], timeout: float = STOP_TIMEOUT_SECONDS
) -> list[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait for them, at most ``timeout`` seconds in all; the tasks
    that did not stop (logged) are returned."""
    running = [task for task in tasks if task is not None and not task.done()]
    for task in running:
        task.cancel()
    if not running:
        return []
    done, stuck = await asyncio.wait(running, timeout=timeout)
    for task in done:
        with contextlib.suppress(asyncio.CancelledError):
            if (error := task.exception()) is not None:
                log.warning("task_failed_while_stopping", task=task.get_name(), error=repr(error))
    for task in stuck:
        log.warning("task_did_not_stop", task=task.get_name(), timeout_seconds=timeout)
    return list(stuck)
