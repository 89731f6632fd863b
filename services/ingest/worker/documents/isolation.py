"""Cutting converters off the network: a document's links (``http://``, an
internal address, a cloud metadata endpoint) then lead nowhere.

A new network namespace has only a loopback interface, and it is down. Creating one
needs root, or unprivileged user namespaces (then through a user namespace mapping
the caller to root inside it). Where neither is allowed, nothing is isolated and the
capabilities report says so.
"""

from __future__ import annotations

import ctypes
import subprocess
from functools import lru_cache

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
_PREFIXES = (["unshare", "--net", "--"], ["unshare", "--map-root-user", "--net", "--"])


def leave_network() -> bool:
    """Move this single-threaded process into a new, empty network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    return any(libc.unshare(flags) == 0 for flags in (CLONE_NEWNET, CLONE_NEWUSER | CLONE_NEWNET))


@lru_cache(maxsize=1)
def command_prefix() -> tuple[str, ...]:
    """The prefix that runs a command in a new network namespace (``unshare``), or
    () when the host allows none."""
    for prefix in _PREFIXES:
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return tuple(prefix)
    return ()
