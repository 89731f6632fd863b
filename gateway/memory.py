"""What an object held in a gateway cache costs in memory, measured (``sys.getsizeof``).

The caches add an entry's footprint when they store it and take it away when they drop
it, so ``/monitoring/cache/stats`` reports a running total of measured sizes instead of
a guess per entry, at no cost per lookup. Walked: strings, bytes, numbers, tuples,
lists, sets, dicts and dataclass instances (slots or not). Enum members and ``None``
are shared by every entry and counted nowhere.
"""

from __future__ import annotations

import dataclasses
import sys
from enum import Enum


def footprint(*objects: object) -> int:
    """Bytes held by ``objects`` and everything they reference (each object once)."""
    seen: set[int] = set()
    total = 0
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if obj is None or isinstance(obj, Enum | bool) or id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, str | bytes | int | float):
            continue
        if isinstance(obj, tuple | list | set | frozenset):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif dataclasses.is_dataclass(obj):
            stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
    return total
