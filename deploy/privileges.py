"""Who runs the database server: PostgreSQL refuses to run as root, so a root
launcher (CI, these machines) runs it as the unprivileged ``nobody``.

Nothing here creates users or loosens permissions of directories we did not make.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Account:
    user: str
    group: str


UNPRIVILEGED = Account(user="nobody", group="nogroup")


def server_account() -> Account | None:
    """The account to run PostgreSQL as: ``nobody`` when we are root, else ourselves (None)."""
    return UNPRIVILEGED if os.geteuid() == 0 else None


def can_access(account: Account | None, path: Path, *, write: bool = False) -> bool:
    """Whether ``account`` can reach (and read, or write) ``path``: asked of the kernel,
    by running ``test`` as that account, so ACLs and every parent directory count."""
    if account is None:
        return os.access(path, os.W_OK | os.X_OK if write else os.R_OK | os.X_OK)
    test = shutil.which("test") or "/usr/bin/test"
    flags = ["-w", str(path)] if write else ["-r", str(path), "-a", "-x", str(path)]
    result = subprocess.run(
        [test, *flags],
        user=account.user,
        group=account.group,
        extra_groups=[],
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return result.returncode == 0


def give_to(account: Account | None, path: Path) -> None:
    """Hand a directory we created ourselves to ``account`` (no-op when it is us)."""
    if account is not None:
        shutil.chown(path, account.user, account.group)
