"""The application processes of docs/DESIGN.md, started as ``make up`` and the tests
start them: each service migrated then served, the parse worker, then the gateway,
each waited for until it is ready, all stopped together.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis import Redis
from redis.exceptions import RedisError

from deploy import console as console_module
from deploy.backing import BackingServices
from deploy.dev_secrets import load_or_create
from deploy.ports import free_port
from deploy.processes import ManagedProcess, StartupError, spawn, stop_all, wait_until
from deploy.topology import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEV_API_KEY,
    GATEWAY_HOST_VARIABLE,
    GATEWAY_PORT_VARIABLE,
    PROCESSES,
    SERVICES,
    ProcessSpec,
    Role,
    is_platform_variable,
    receives,
)
from shared.heartbeat import WORKER_HEARTBEAT_KEY

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MIGRATE_TIMEOUT = 180.0
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class RunningPlatform:
    """Where the running platform answers, and the credentials it was started with."""

    gateway_url: str
    service_urls: dict[str, str]
    env: dict[str, str]
    dev_api_key: str | None
    admin_username: str
    admin_password: str
    data_dir: Path
    processes: dict[str, ManagedProcess] = field(repr=False)
    # Start a process again (same port, same environment; `processes` follows), and
    # whether it answers: what the supervisor of `make up` uses.
    relaunch: Callable[[str], ManagedProcess] = field(repr=False, compare=False)
    answers: Callable[[str], bool] = field(repr=False, compare=False)

    @property
    def docs_url(self) -> str:
        return f"{self.gateway_url}/docs"

    def log_path(self, process: str) -> Path:
        return self.processes[process].log_path


def inherited_environment() -> dict[str, str]:
    """The launcher's environment less every variable the platform decides itself."""
    return {k: v for k, v in os.environ.items() if not is_platform_variable(k)}


def platform_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` that configure the platform (``make up`` passes
    the shell's on: ``DATABASE_URL``, ``AUTH_ARGON2_TIME_COST``, ...)."""
    return {k: v for k, v in environ.items() if is_platform_variable(k)}


def _values(
    backing: BackingServices,
    secrets: Mapping[str, str],
    ports: Mapping[str, int],
    extra: Mapping[str, str],
) -> dict[str, str]:
    values: dict[str, str] = {"QUARRY_ENV": "development", **backing.env(), **secrets}
    for service in SERVICES:
        values[service.host_variable] = HOST
        values[service.port_variable] = str(ports[service.name])
        values[service.internal_url_variable] = f"http://{HOST}:{ports[service.name]}"
    values[GATEWAY_HOST_VARIABLE] = HOST
    values[GATEWAY_PORT_VARIABLE] = str(ports["gateway"])
    return values | dict(extra)


def process_env(
    spec: ProcessSpec, values: Mapping[str, str], inherited: Mapping[str, str]
) -> dict[str, str]:
    """What ``spec`` is started with: the inherited environment, its own variables,
    and the extra ones meant for it (see :func:`deploy.topology.receives`)."""
    own = {k: v for k, v in values.items() if receives(spec, k)}
    missing = spec.env_names - own.keys()
    if missing:
        raise StartupError(f"{spec.name}: no value for {', '.join(sorted(missing))}")
    return {**inherited, "PYTHONUNBUFFERED": "1", **own}


def _own_database(
    spec: ProcessSpec, backing: BackingServices, extra: Mapping[str, str]
) -> dict[str, str]:
    """``DATABASE_URL`` of ``spec``'s own role, unless the caller chose one for it."""
    if spec.service is None or "DATABASE_URL" in extra:
        return {}
    url = backing.service_database_urls.get(spec.service)
    return {"DATABASE_URL": url} if url else {}


def check_modules(specs: Collection[ProcessSpec] = PROCESSES) -> None:
    """Fail at once, naming them, if a process's module is not written yet."""
    missing = [f"{s.name} ({s.module_path})" for s in specs if not (ROOT / s.module_path).is_file()]
    if missing:
        raise StartupError(
            "Cannot start the platform, these modules do not exist yet: " + ", ".join(missing)
        )


def _ports(extra: Mapping[str, str], gateway_port: int | None) -> dict[str, int]:
    ports = {s.name: int(extra.get(s.port_variable) or free_port(HOST)) for s in SERVICES}
    ports["gateway"] = gateway_port or int(extra.get(GATEWAY_PORT_VARIABLE) or free_port(HOST))
    return ports


def _answers_200(client: httpx.Client, url: str, last: dict[str, str]) -> bool:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        last["error"] = f"{type(exc).__name__}: {exc}"
        return False
    last["error"] = f"HTTP {response.status_code}: {response.text[:500]}"
    return response.status_code == 200


def _wait_http(process: ManagedProcess, url: str) -> None:
    last: dict[str, str] = {"error": "no answer yet"}
    with httpx.Client(timeout=3.0) as client:
        try:
            wait_until(
                lambda: _answers_200(client, url, last),
                what=f"{process.name} (GET {url})",
                timeout=READY_TIMEOUT,
                process=process,
                interval=0.1,
            )
        except StartupError as exc:
            raise StartupError(f"{exc}\nlast answer: {last['error']}") from None


def _wait_heartbeat(process: ManagedProcess, redis_url: str) -> None:
    with Redis.from_url(redis_url, socket_timeout=2) as redis:
        wait_until(
            lambda: bool(redis.exists(WORKER_HEARTBEAT_KEY)),
            what=f"{process.name} (heartbeat {WORKER_HEARTBEAT_KEY} in Redis)",
            timeout=READY_TIMEOUT,
            process=process,
            interval=0.1,
        )


def _answers_as(url: str, service: str | None) -> bool:
    """``url`` answers as ``service`` (its /health names it), or 200 when None."""
    try:
        response = httpx.get(url, timeout=3.0)
        if service is None:
            return response.status_code == 200
        return bool(response.json().get("service") == service)
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def _beats_since(redis_url: str, since: float) -> bool:
    try:
        with Redis.from_url(redis_url, socket_timeout=2) as redis:
            value = redis.get(WORKER_HEARTBEAT_KEY)
    except RedisError:
        return False
    return value is not None and float(value) >= since


def _launch(spec: ProcessSpec, env: dict[str, str], logs: Path, console: bool) -> ManagedProcess:
    return spawn(
        spec.name,
        [sys.executable, *spec.argv[1:]],  # the launcher's interpreter: the project's venv
        log_path=logs / f"{spec.name}.log",
        env=env,
        cwd=ROOT,
        console=console,
    )


def _await_migrations(running: list[ManagedProcess]) -> None:
    """Every service's ``migrate`` runs at once (separate schemas); each must exit 0."""
    try:
        deadline = time.monotonic() + MIGRATE_TIMEOUT
        for process in running:
            code = process.popen.wait(max(0.1, deadline - time.monotonic()))
            if code != 0:
                raise StartupError(
                    f"{process.name} failed with status {code} (log: {process.log_path})\n"
                    f"{process.log_tail()}"
                )
    except BaseException:
        stop_all(running)
        raise


@contextmanager
def start_platform(
    data_dir: Path,
    backing: BackingServices,
    *,
    extra_env: Mapping[str, str] | None = None,
    gateway_port: int | None = None,
    console: bool = False,
    only: Collection[str] | None = None,
) -> Iterator[RunningPlatform]:
    """Start every process of :data:`deploy.topology.PROCESSES` (or the ``only`` ones,
    by name) against ``backing`` and yield once all are ready; stop them all on exit.

    ``extra_env`` overrides or adds variables (``QUARRY_ENV=test``, ``API_KEY=...``,
    ``AUTH_ARGON2_TIME_COST=1``); secrets not given there come from
    ``data_dir/secrets.env``, generated on first use. Logs: ``data_dir/logs/<name>.log``.
    A service (and its migration) connects to PostgreSQL as its own role when the
    backing has one (``backing.service_database_urls``), never as the superuser.
    """
    extra = dict(extra_env or {})
    specs = [s for s in PROCESSES if only is None or s.name in only]
    check_modules(specs)
    logs = data_dir / "logs"
    secrets = load_or_create(data_dir / "secrets.env")
    ports = _ports(extra, gateway_port)
    values = _values(backing, secrets, ports, extra)
    inherited = inherited_environment()
    envs = {
        s.name: process_env(s, values | _own_database(s, backing, extra), inherited) for s in specs
    }

    def launch(spec: ProcessSpec) -> ManagedProcess:
        return _launch(spec, envs[spec.name], logs, console)

    began = time.monotonic()

    def ready(what: str) -> None:
        if console:
            took = time.monotonic() - began
            console_module.current().launcher("info", f"{what} ready ({took:.1f} s)")

    _await_migrations([launch(s) for s in specs if s.role is Role.MIGRATE])
    ready("migrations")

    started: dict[str, ManagedProcess] = {}
    try:
        # Services and the worker boot side by side; the gateway once they answer.
        for spec in specs:
            if spec.role in (Role.SERVICE, Role.WORKER):
                started[spec.name] = launch(spec)
        for spec in specs:
            if spec.role is Role.SERVICE:
                _wait_http(started[spec.name], f"http://{HOST}:{ports[spec.name]}/health")
                ready(spec.name)
            elif spec.role is Role.WORKER:
                _wait_heartbeat(started[spec.name], values["REDIS_URL"])
                ready(spec.name)
        gateway_url = f"http://{HOST}:{ports['gateway']}"
        for spec in specs:
            if spec.role is Role.GATEWAY:
                started[spec.name] = launch(spec)
                _wait_http(started[spec.name], f"{gateway_url}/api/health")
                ready(f"{spec.name} (every component healthy)")

        by_name = {s.name: s for s in specs}

        def relaunch(name: str) -> ManagedProcess:
            started[name] = launch(by_name[name])
            return started[name]

        def answers(name: str) -> bool:
            spec = by_name[name]
            if spec.role is Role.WORKER:
                return _beats_since(values["REDIS_URL"], started[name].started_at)
            if spec.role is Role.GATEWAY:
                return _answers_as(f"{gateway_url}/healthcheck", None)
            # Its own /health answering, healthy or not (a dependency may be down):
            # a port that merely accepts could be anyone's.
            return _answers_as(f"http://{HOST}:{ports[name]}/health", name)

        yield RunningPlatform(
            gateway_url=gateway_url,
            service_urls={s.name: values[s.internal_url_variable] for s in SERVICES},
            env=values,
            dev_api_key=values.get(DEV_API_KEY) or None,
            admin_username=values[ADMIN_USERNAME],
            admin_password=values[ADMIN_PASSWORD],
            data_dir=data_dir,
            processes=started,
            relaunch=relaunch,
            answers=answers,
        )
    finally:
        stop_all(list(reversed(started.values())), STOP_TIMEOUT)
