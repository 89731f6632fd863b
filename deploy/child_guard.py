"""Run a program so that it dies with the launcher, then ``exec`` it.

    python -I -S deploy/child_guard.py SIGNAL LAUNCHER_PID USER GROUP -- PROGRAM ARGS...

The launcher starts every child through this small script instead of a pre-exec hook
(``subprocess``'s ``preexec_fn`` is documented as unsafe in a process with threads,
and the launcher runs log-pump threads). In the child, before ``exec``:

1. with ``USER``/``GROUP`` other than ``-``, drop root for that account (no
   supplementary groups), as PostgreSQL needs;
2. ask the kernel to send ``SIGNAL`` when the launcher dies, even by SIGKILL
   (``prctl(PR_SET_PDEATHSIG)``; set after the account change, which clears it);
3. if the launcher is already gone (it died between our fork and step 2), give up.

``exec`` keeps the process id, so the launcher's ``Popen`` is the program itself.
The kernel ties the death signal to the launcher's spawning *thread*: spawn from a
thread that outlives the child (the launcher and the test fixtures use the main one).

Only the standard library, no project imports: it runs with ``-I -S`` (no site,
no environment) before the program's own environment matters. Everything is imported
before the account change: the interpreter may live where that account cannot read
(``/root/.pyenv``).
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import sys
import warnings  # noqa: F401 - os.execvp imports it; after dropping root it may be unreadable

PR_SET_PDEATHSIG = 1
USAGE = "usage: child_guard.py SIGNAL LAUNCHER_PID USER GROUP -- PROGRAM [ARGS...]"


def _drop_privileges(user: str, group: str) -> None:
    if user == "-":
        return
    gid = grp.getgrnam(group).gr_gid if group != "-" else pwd.getpwnam(user).pw_gid
    os.setgroups([])
    os.setgid(gid)
    os.setuid(pwd.getpwnam(user).pw_uid)


def _die_with(sig: int, launcher: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != launcher:  # orphaned before the signal was armed
        os._exit(128 + sig)


def main(argv: list[str]) -> None:
    if len(argv) < 6 or argv[4] != "--":
        sys.exit(USAGE)
    sig, launcher, user, group, program = int(argv[0]), int(argv[1]), argv[2], argv[3], argv[5:]
    _drop_privileges(user, group)
    if sys.platform.startswith("linux"):
        _die_with(sig, launcher)
    os.execvp(program[0], program)  # noqa: S606 - exec the launcher's own argv, no shell


if __name__ == "__main__":
    main(sys.argv[1:])
