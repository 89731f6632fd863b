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

from deploy.backing import BackingServices, start_backing
from deploy.platform import RunningPlatform, check_modules, platform_variables, start_platform
from deploy.processes import StartupError
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


def _banner(platform: RunningPlatform, backing: BackingServices) -> str:
    line = "=" * 72
    return "\n".join(
        [
            line,
            f"Quarry is up: {platform.gateway_url}",
            f"  API docs:            {platform.docs_url}",
            f"  development API key: {platform.dev_api_key}   (header X-API-Key)",
            f"  admin:               {platform.admin_username} / {platform.admin_password}",
            f"  data, logs, secrets: {platform.data_dir}  (passwords: secrets.env)",
            f"  PostgreSQL:          {without_password(backing.database_url)}",
            f"  Redis:               {without_password(backing.redis_url)}",
            f"  S3 / SQS:            {backing.s3_endpoint_url} / {backing.sqs_endpoint_url}",
            "Ctrl-C stops everything.",
            line,
        ]
    )


def _watch(platform: RunningPlatform) -> int:
    """Block until a signal; a process that dies on its own brings everything down."""
    while True:
        for name, process in platform.processes.items():
            if not process.running:
                print(
                    f"\n{name} exited with status {process.popen.returncode} "
                    f"(log: {process.log_path}); stopping everything.",
                    file=sys.stderr,
                )
                return 1
        time.sleep(0.5)


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
            print(_banner(platform, backing), flush=True)
            print(f"(started in {time.monotonic() - started:.1f} s)", flush=True)
            return _watch(platform)
    except StartupError as exc:
        print(f"\nQuarry did not start: {exc}", file=sys.stderr)
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
