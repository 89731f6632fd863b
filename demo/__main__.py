"""``python -m demo`` (``make demo``): see :mod:`demo`.

python -m demo                      # the platform on QUARRY_PORT, started if need be
python -m demo --url http://host:port --state-dir DIR --username NAME
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from demo import launcher
from demo.progress import Progress
from demo.runner import run
from demo.state import StateDir

DEFAULT_PORT = 8000
ATTACH_SECONDS = 120.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    port = os.environ.get("QUARRY_PORT") or str(DEFAULT_PORT)
    data_dir = Path(os.environ.get("QUARRY_DATA_DIR") or ".quarry")
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Feed a demo account with sample data and print where to look.",
    )
    parser.add_argument(
        "--url",
        help="the gateway of a running platform (default: http://127.0.0.1:$QUARRY_PORT, "
        "started when nothing answers there)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=data_dir / "demo",
        help="where the account and the sample files are kept (default: $QUARRY_DATA_DIR/demo)",
    )
    parser.add_argument("--username", default="demo", help="the demo account (default: demo)")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra header on every request of the demo (e.g. for a proxy)",
    )
    args = parser.parse_args(argv)
    args.local_url = f"http://127.0.0.1:{port}"
    return args


class Shutdown(BaseException):
    """SIGTERM: unwind like Ctrl-C, so a platform the demo started is stopped."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Shutdown


def _headers(raw: list[str]) -> dict[str, str]:
    headers = {}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"--header {item!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    headers = _headers(args.header)
    progress = Progress()
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C, even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    url = (args.url or args.local_url).rstrip("/")
    started: launcher.StartedPlatform | None = None
    try:
        if launcher.answers(url):
            launcher.wait_healthy(url, ATTACH_SECONDS)
            progress.info(f"Quarry answers on {url}: the demo uses it")
        elif args.url:
            progress.error(f"nothing answers on {url}: start the platform there, or drop --url")
            return 1
        else:
            progress.info(f"nothing answers on {url}: starting the platform (make up)")
            started = launcher.start()
            started.wait_healthy(url)
        code = asyncio.run(
            run(url, StateDir(args.state_dir), args.username, progress, extra_headers=headers)
        )
        if started is None:
            return code
        progress.info("the platform keeps running (started by the demo); Ctrl-C stops it")
        return started.wait()
    except launcher.LaunchFailed as exc:
        progress.error(str(exc))
        return 1
    except (KeyboardInterrupt, Shutdown):
        return 0 if started is not None else 130
    finally:
        if started is not None:
            started.stop()


if __name__ == "__main__":
    sys.exit(main())
