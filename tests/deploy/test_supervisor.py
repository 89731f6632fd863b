"""The supervisor's rules on real processes, with a clock the test moves: a death is
logged and restarted after a backoff, a recovery is reported, a crash loop is given
up on with its reason, a long stable run forgives earlier deaths."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.processes import ManagedProcess, spawn
from deploy.supervisor import CrashLoop, RestartPolicy, Supervised, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Program:
    """A supervised child that a test kills, restarts as ``argv`` and marks ready."""

    def __init__(self, tmp_path: Path, name: str, argv: list[str]) -> None:
        self.tmp_path = tmp_path
        self.name = name
        self.argv = argv
        self.starts = 0
        self.ready = True
        self.process = self.start()

    def start(self) -> ManagedProcess:
        self.starts += 1
        self.process = spawn(self.name, self.argv, log_path=self.tmp_path / f"{self.name}.log")
        return self.process

    def kill(self) -> None:
        self.process.popen.kill()
        self.process.popen.wait(10)

    def unit(self, dependents: tuple[str, ...] = ()) -> Supervised:
        return Supervised(
            self.name,
            current=lambda: self.process,
            restart=self.start,
            ready=lambda: self.ready,
            dependents=dependents,
        )

    def stop(self) -> None:
        self.process.stop(timeout=5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def supervisor(
    clock: Clock, lines: list[tuple[str, str]], *units: Supervised, **policy: float
) -> Supervisor:
    chosen = RestartPolicy(**policy)  # type: ignore[arg-type]
    return Supervisor(
        units, log=lambda level, text: lines.append((level, text)), policy=chosen, clock=clock
    )


def test_a_killed_process_is_logged_restarted_after_a_backoff_and_reported_back(
    tmp_path: Path, clock: Clock
) -> None:
    redis = Program(tmp_path, "redis", ["sleep", "60"])
    lines: list[tuple[str, str]] = []
    watch = supervisor(clock, lines, redis.unit())
    try:
        watch.poll()
        assert lines == []  # alive: nothing to say
        redis.kill()
        watch.poll()
        level, text = lines[-1]
        assert level == "error"
        assert text.startswith("redis killed by SIGKILL; restarting in ")
        assert "(attempt 1 of 5)" in text
        assert redis.starts == 1  # not before its backoff
        clock.now += 0.5  # the first wait is at most base (0.5 s)
        watch.poll()
        assert redis.starts == 2
        assert redis.process.running
        clock.now += 0.3
        watch.poll()
        assert lines[-1] == ("info", "redis is back after 0.8 s")
        assert watch.downtimes("redis") == [pytest.approx(0.8)]
    finally:
        redis.stop()


def test_a_crash_loop_is_given_up_with_its_reason(tmp_path: Path, clock: Clock) -> None:
    broken = Program(tmp_path, "auth", ["sh", "-c", "echo cannot bind port; exit 3"])
    lines: list[tuple[str, str]] = []
    watch = supervisor(clock, lines, broken.unit(), max_failures=3)
    broken.process.popen.wait(10)

    def run_until_given_up() -> None:
        for _ in range(20):
            watch.poll()
            broken.process.popen.wait(10)  # each start dies at once
            clock.now += 20.0  # past any backoff (capped at 10 s), not stable (30 s)

    with pytest.raises(CrashLoop) as raised:
        run_until_given_up()
    message = str(raised.value)
    assert message.startswith("auth keeps dying: 4 times in a row")
    assert "last exit status 3; given up" in message
    assert "cannot bind port" in message  # the tail of its log
    assert [t for _, t in lines if "restarting" in t][-1].endswith("(attempt 3 of 3)")
    assert broken.starts == 4


def test_a_stable_run_forgives_earlier_deaths(tmp_path: Path, clock: Clock) -> None:
    worker = Program(tmp_path, "worker", ["sleep", "60"])
    lines: list[tuple[str, str]] = []
    watch = supervisor(clock, lines, worker.unit(), max_failures=2, stable_after=30.0)
    try:
        for _ in range(5):  # five deaths, each after a long stable run: never a loop
            clock.now += 31.0
            watch.poll()
            worker.kill()
            watch.poll()
            assert "(attempt 1 of 2)" in lines[-1][1]
            clock.now += 0.5
            watch.poll()
            watch.poll()
        assert worker.starts == 6
    finally:
        worker.stop()


def test_a_restart_that_never_answers_counts_as_a_death(tmp_path: Path, clock: Clock) -> None:
    service = Program(tmp_path, "profile", ["sleep", "60"])
    lines: list[tuple[str, str]] = []
    watch = supervisor(clock, lines, service.unit(), start_timeout=5.0)
    try:
        service.kill()
        service.ready = False
        watch.poll()
        clock.now += 0.5
        watch.poll()  # restarted, not answering
        clock.now += 6.0
        watch.poll()
        assert "not answering 5 s" in lines[-1][1]
        assert "(attempt 2 of 5)" in lines[-1][1]
    finally:
        service.stop()


def test_dependents_restart_once_what_they_lean_on_is_back(tmp_path: Path, clock: Clock) -> None:
    moto = Program(tmp_path, "moto", ["sleep", "60"])
    worker = Program(tmp_path, "worker", ["sleep", "60"])
    lines: list[tuple[str, str]] = []
    watch = supervisor(clock, lines, moto.unit(dependents=("worker",)), worker.unit())
    try:
        moto.kill()
        watch.poll()
        clock.now += 0.5
        watch.poll()  # moto restarted
        watch.poll()  # moto back: the worker is restarted
        assert worker.starts == 2
        assert any("restarting worker" in text for _, text in lines)
        watch.poll()
        assert worker.process.running
    finally:
        moto.stop()
        worker.stop()
