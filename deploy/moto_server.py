"""moto in server mode: SQS over HTTP on loopback, for the same aioboto3 code that
talks to AWS in production (``endpoint_url``). (S3 is SeaweedFS: deploy/object_store.py.)

It runs as a subprocess (``python -m moto.server``), not in-process, so it dies with
the launcher. moto keeps its queues in memory, and nothing saves them: the jobs
outbox in PostgreSQL is the durable record, and ingest's relay declares the queues
again and re-sends what a lost queue held.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
import urllib.request
from pathlib import Path

from deploy.processes import ServerLaunch, StartupError, spawn

HOST = "127.0.0.1"


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def _answers(port: int) -> bool:
    url = f"{endpoint(port)}/moto-api/data.json"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def launch_moto(*, log_path: Path, console: bool = False) -> ServerLaunch:
    """Start SQS on a free loopback port; ``.wait()`` for it (it takes about 1 s to
    import, so the launcher boots the other servers meanwhile)."""
    if importlib.util.find_spec("moto.server") is None:
        raise StartupError(
            "moto is not installed: run `make up`/`make test` (they install the dev "
            "dependencies), or set SQS_ENDPOINT_URL."
        )
    return ServerLaunch(
        lambda port: spawn(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            log_path=log_path,
            console=console,
        ),
        _answers,
        what="moto (SQS)",
        timeout=60,
    )
