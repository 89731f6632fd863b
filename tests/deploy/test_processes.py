"""Children of the launcher: started without a pre-exec hook (unsafe with threads),
run as the requested account, and none outlives the launcher, even after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from deploy.privileges import server_account
from deploy.processes import CHILD_GUARD, spawn

ROOT = Path(__file__).resolve().parents[2]


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid``, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int) -> bool:
    return process_state(pid) not in (None, "Z", "X")  # a zombie has exited


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.05)


def test_children_are_started_without_a_pre_exec_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real_popen = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    process = spawn("sleeper", ["sleep", "30"], log_path=tmp_path / "sleeper.log")
    try:
        assert seen, "spawn did not start a process"
        assert seen[0].get("preexec_fn") is None
        assert seen[0].get("start_new_session") is True
        assert os.getpgid(process.pid) == process.pid  # the leader of its own group
    finally:
        process.stop(timeout=5)


def test_the_child_runs_as_the_servers_account(tmp_path: Path) -> None:
    account = server_account()
    process = spawn("sleeper", ["sleep", "30"], log_path=tmp_path / "sleeper.log", run_as=account)
    try:
        wait_for(lambda: Path(f"/proc/{process.pid}/exe").resolve().name == "sleep", "exec")
        expected = 65534 if os.geteuid() == 0 else os.geteuid()  # nobody when we are root
        assert uid_of(process.pid) == expected
    finally:
        process.stop(timeout=5)


def test_a_child_whose_launcher_is_already_gone_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # The guard is told its launcher is pid 1: not its parent, as after a launcher death.
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(CHILD_GUARD),
            "15",
            "1",
            "-",
            "-",
            "--",
            "touch",
            str(marker),
        ],
        check=False,
        timeout=30,
    )
    assert result.returncode == 128 + signal.SIGTERM
    assert not marker.exists()


LAUNCHER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from deploy.privileges import server_account
    from deploy.processes import spawn

    logs = Path(sys.argv[1])
    children = [
        spawn("plain", ["sleep", "300"], log_path=logs / "a.log", console=True),
        spawn("server", ["sleep", "300"], log_path=logs / "b.log", run_as=server_account(),
              console=True, stop_signal=signal.SIGINT),
    ]
    print(" ".join(str(c.pid) for c in children), flush=True)
    time.sleep(300)
    """
)


def test_nothing_outlives_a_launcher_killed_with_sigkill(tmp_path: Path) -> None:
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        pids = [int(p) for p in launcher.stdout.readline().split()]
        assert len(pids) == 2
        wait_for(lambda: all(is_alive(p) for p in pids), "children started")
        # Log-pump threads are running in the launcher (console=True) when it dies.
        launcher.kill()
        launcher.wait(10)
        wait_for(lambda: not any(is_alive(p) for p in pids), "children died with the launcher")
    finally:
        launcher.kill()
        for pid in locals().get("pids", []):
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
