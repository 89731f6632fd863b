"""shared.backoff: exponential, capped, jittered within the upper half, reset by success."""

from __future__ import annotations

import random

import pytest

from shared.backoff import Backoff


def test_waits_double_up_to_the_cap_and_reset_after_a_success() -> None:
    delays = Backoff(base=0.5, cap=3.0, uniform=lambda low, high: high)
    assert [delays.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert delays.attempts == 5
    delays.reset()
    assert delays.next() == 0.5


def test_each_wait_is_jittered_within_the_upper_half() -> None:
    rng = random.Random(7)
    delays = Backoff(base=1.0, cap=8.0, uniform=rng.uniform)
    waits = [delays.next() for _ in range(200)]
    assert all(4.0 <= w <= 8.0 for w in waits[3:])  # capped at 8, never below half of it
    assert len({round(w, 6) for w in waits[3:]}) > 150  # replicas do not retry in lock-step


def test_a_long_outage_stays_bounded() -> None:
    delays = Backoff(base=0.1, cap=5.0, uniform=lambda low, high: high)
    for _ in range(10_000):
        assert delays.next() <= 5.0


@pytest.mark.parametrize(("base", "cap", "factor"), [(0, 1, 2), (2, 1, 2), (1, 2, 0.5)])
def test_nonsense_curves_are_refused(base: float, cap: float, factor: float) -> None:
    with pytest.raises(ValueError, match=r"need|factor"):
        Backoff(base=base, cap=cap, factor=factor)
