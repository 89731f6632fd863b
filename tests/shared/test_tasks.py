"""Stopping background tasks: a task that swallows its cancellation (as a Redis call
caught mid-command can) no longer hangs a lifespan's shutdown."""

from __future__ import annotations

import asyncio

from shared.tasks import stop_tasks

HANG_GUARD_SECONDS = 30.0  # only a shutdown that hangs ever reaches it


async def test_a_task_that_swallows_its_cancellation_is_left_behind_named() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # what a retry loop around a swallowing library call does

    task = asyncio.create_task(stubborn(), name="stubborn-relay")
    try:
        await asyncio.sleep(0)
        stuck = await asyncio.wait_for(stop_tasks([task], timeout=0.2), HANG_GUARD_SECONDS)
        assert stuck == [task]
        assert not task.done()
    finally:
        released.set()
        await asyncio.wait_for(task, HANG_GUARD_SECONDS)


async def test_well_behaved_tasks_are_cancelled_and_awaited() -> None:
    cleaned: list[str] = []

    async def polite(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append(name)

    tasks = [asyncio.create_task(polite(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    assert await asyncio.wait_for(stop_tasks([*tasks, None]), HANG_GUARD_SECONDS) == []
    assert all(t.cancelled() for t in tasks)
    assert sorted(cleaned) == ["a", "b"]
