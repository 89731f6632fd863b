"""``make up`` keeps running what it started: the backing servers and the platform.

A process that dies is logged and started again, on the same ports with the same
environment, after a jittered exponential backoff (0.5 s doubling to 10 s,
:mod:`shared.backoff`). It counts as recovered once it answers again (its readiness
check) and as stable after :attr:`RestartPolicy.stable_after` seconds up. Dying again
before that is a crash loop: after :attr:`RestartPolicy.max_failures` such deaths in a
row the supervisor gives up and raises :class:`CrashLoop`, whose message names the
process, its last exit status and the tail of its log; the launcher then stops
everything with that reason.

Everything happens in :meth:`Supervisor.poll`, called from the launcher's main
thread: restarted children get their parent-death signal from a thread that outlives
them (deploy/child_guard.py), and no lock is needed. A restart never blocks the
others: a unit waits for its backoff or its readiness across polls.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from deploy.processes import ManagedProcess
from shared.backoff import Backoff


class CrashLoop(RuntimeError):
    """A process kept dying: the supervisor gave up on it."""


@dataclass(frozen=True)
class RestartPolicy:
    max_failures: int = 5  # deaths in a row, each before stable_after, before giving up
    stable_after: float = 30.0  # seconds up after which a death is a first one again
    start_timeout: float = 90.0  # a restart that never answers counts as a death
    backoff_base: float = 0.5
    backoff_cap: float = 10.0


@dataclass
class Supervised:
    """One process to keep running."""

    name: str
    current: Callable[[], ManagedProcess]  # the live process
    restart: Callable[[], ManagedProcess]  # start it again, same ports and environment
    ready: Callable[[], bool]  # it answers again
    dependents: tuple[str, ...] = ()  # restarted once this one is back (they lost state)


class _State(Enum):
    RUNNING = "running"
    WAITING = "waiting"  # dead, restart at restart_at
    STARTING = "starting"  # restarted, not answering yet


@dataclass
class _Unit:
    spec: Supervised
    backoff: Backoff
    state: _State = _State.RUNNING
    since: float = 0.0  # when the current process started
    down_since: float = 0.0
    restart_at: float = 0.0
    failures: int = 0
    last_exit: str = ""
    restarts: list[float] = field(default_factory=list)  # seconds down, per recovery


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Supervisor:
    """Polls the units; restarts the dead; raises :class:`CrashLoop` on a crash loop."""

    def __init__(
        self,
        units: Iterable[Supervised],
        *,
        log: Callable[[str, str], None],
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._log = log  # (level, message)
        now = clock()
        self._units = {
            u.name: _Unit(
                u, Backoff(base=self.policy.backoff_base, cap=self.policy.backoff_cap), since=now
            )
            for u in units
        }

    def downtimes(self, name: str) -> list[float]:
        """Seconds ``name`` was down, one figure per recovery."""
        return list(self._units[name].restarts)

    def poll(self) -> None:
        now = self._clock()
        for unit in self._units.values():
            if unit.state is _State.RUNNING:
                self._check_running(unit, now)
            elif unit.state is _State.WAITING and now >= unit.restart_at:
                self._start(unit, now)
            elif unit.state is _State.STARTING:
                self._check_starting(unit, now)

    def _check_running(self, unit: _Unit, now: float) -> None:
        process = unit.spec.current()
        if process.running:
            if unit.failures and now - unit.since >= self.policy.stable_after:
                unit.failures = 0
                unit.backoff.reset()
            return
        self._died(unit, now, describe_exit(process.popen.returncode), process)

    def _died(self, unit: _Unit, now: float, how: str, process: ManagedProcess | None) -> None:
        name = unit.spec.name
        if now - unit.since >= self.policy.stable_after:
            unit.failures = 0
            unit.backoff.reset()
        unit.failures += 1
        unit.last_exit = how
        if unit.state is _State.RUNNING:
            unit.down_since = now
        if unit.failures > self.policy.max_failures:
            log_hint = ""
            if process is not None:
                log_hint = f" (log: {process.log_path})\n{process.log_tail(15)}"
            raise CrashLoop(
                f"{name} keeps dying: {unit.failures} times in a row within "
                f"{self.policy.stable_after:.0f} s of starting, last {how}; given up{log_hint}"
            )
        delay = unit.backoff.next()
        self._log(
            "error",
            f"{name} {how}; restarting in {delay:.1f} s "
            f"(attempt {unit.failures} of {self.policy.max_failures})",
        )
        unit.state = _State.WAITING
        unit.restart_at = now + delay

    def _start(self, unit: _Unit, now: float) -> None:
        try:
            unit.spec.restart()
        except Exception as exc:  # could not even spawn it: a failure like any other
            unit.state = _State.STARTING
            self._died(unit, now, f"could not start ({type(exc).__name__}: {exc})", None)
            return
        unit.state = _State.STARTING
        unit.since = now

    def _check_starting(self, unit: _Unit, now: float) -> None:
        process = unit.spec.current()
        if not process.running:
            self._died(unit, now, describe_exit(process.popen.returncode), process)
        elif unit.spec.ready():
            down = now - unit.down_since
            unit.restarts.append(down)
            unit.state = _State.RUNNING
            self._log("info", f"{unit.spec.name} is back after {down:.1f} s")
            for name in unit.spec.dependents:
                self._restart_dependent(name, now)
        elif now - unit.since > self.policy.start_timeout:
            process.stop(timeout=5)
            self._died(unit, now, f"not answering {self.policy.start_timeout:.0f} s", process)

    def _restart_dependent(self, name: str, now: float) -> None:
        dependent = self._units.get(name)
        if dependent is None or dependent.state is not _State.RUNNING:
            return
        self._log("info", f"restarting {name}, which depends on what just came back")
        dependent.spec.current().stop(timeout=10)
        dependent.down_since = now
        self._start(dependent, now)
