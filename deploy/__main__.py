"""``python -m deploy up``: the whole platform in the foreground, data under
``QUARRY_DATA_DIR`` (default ``./.quarry``); Ctrl-C or SIGTERM stops all of it."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

from deploy import console
from deploy.backing import BackingServices, start_backing
from deploy.platform import RunningPlatform, check_modules, platform_variables, start_platform
from deploy.processes import ServerLaunch, StartupError
from deploy.supervisor import CrashLoop, Supervised, Supervisor
from deploy.topology import GATEWAY_DEFAULT_PORT, GATEWAY_PORT_VARIABLE
from deploy.urls import without_password


class Shutdown(BaseException):
    """SIGTERM: unwind like Ctrl-C, so every started process is stopped."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Shutdown


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _banner(platform: RunningPlatform, backing: BackingServices, seconds: float) -> str:
    line = "=" * 72
    return "\n".join(
        [
            line,
            f"Quarry is up: {platform.gateway_url}   (started in {seconds:.1f} s)",
            f"  API docs:            {platform.docs_url}",
            f"  development API key: {platform.dev_api_key}   (header X-API-Key)",
            f"  admin:               {platform.admin_username} / {platform.admin_password}",
            f"  data, logs, secrets: {platform.data_dir}  (passwords: secrets.env)",
            f"  PostgreSQL:          {without_password(backing.database_url)}",
            f"  Redis:               {without_password(backing.redis_url)}",
            f"  S3 / SQS:            {backing.s3_endpoint_url} / {backing.sqs_endpoint_url}",
            "A process that dies is restarted; Ctrl-C stops everything.",
            line,
        ]
    )


POLL_SECONDS = 0.2


def _server_unit(name: str, launch: ServerLaunch) -> Supervised:
    return Supervised(
        name,
        current=lambda: launch.process,
        restart=launch.restart,
        ready=launch.answers,
        # moto keeps queues in memory: the worker declares them again at its start.
        dependents=("worker",) if name == "moto" else (),
    )


def _platform_unit(name: str, platform: RunningPlatform) -> Supervised:
    return Supervised(
        name,
        current=lambda: platform.processes[name],
        restart=lambda: platform.relaunch(name),
        ready=lambda: platform.answers(name),
    )


def supervised(backing: BackingServices, platform: RunningPlatform) -> list[Supervised]:
    """Every process we started: the backing servers, then the platform's."""
    units = [_server_unit(name, launch) for name, launch in backing.servers.items()]
    return units + [_platform_unit(name, platform) for name in platform.processes]


def _watch(supervisor: Supervisor) -> None:
    """Until a signal: restart what dies; a crash loop raises :class:`CrashLoop`."""
    while True:
        supervisor.poll()
        time.sleep(POLL_SECONDS)


def up() -> int:
    data_dir = Path(os.environ.get("QUARRY_DATA_DIR") or ".quarry").resolve()
    port = int(os.environ.get(GATEWAY_PORT_VARIABLE) or GATEWAY_DEFAULT_PORT)
    if not _port_is_free(port):
        print(
            f"Port {port} is taken: stop what uses it or choose another with "
            f"{GATEWAY_PORT_VARIABLE}=<port>.",
            file=sys.stderr,
        )
        return 2
    try:
        check_modules()
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    shown = console.install(console.Console.from_environment())
    shown.launcher_log = data_dir / "logs" / "launcher.log"
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C, even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        with (
            start_backing(
                data_dir, persistent=True, configured=os.environ, console=True
            ) as backing,
            start_platform(
                data_dir,
                backing,
                extra_env=platform_variables(os.environ),
                gateway_port=port,
                console=True,
            ) as platform,
        ):
            shown.write(_banner(platform, backing, time.monotonic() - started))
            shown.started()  # from now on the processes' info lines show too
            _watch(Supervisor(supervised(backing, platform), log=shown.launcher))
            return 0
    except StartupError as exc:
        print(f"\nQuarry did not start: {exc}", file=sys.stderr)
        return 1
    except CrashLoop as exc:
        shown.launcher("error", str(exc))
        print(f"\nQuarry stopped: {exc}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, Shutdown):
        return 0
    finally:
        print("Quarry stopped.", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole platform in the foreground (Ctrl-C stops it)")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
