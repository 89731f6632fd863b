"""Upload benchmark: a 1 GiB Skype upload streamed through the gateway into S3, beside a
direct multipart PUT of the same bytes to the same object store, in one run.

What runs (loopback only, stopped at the end): PostgreSQL, Redis, the object store
(SeaweedFS) and moto for SQS (``deploy.backing``), and the platform's processes
(``deploy.platform``) without the worker (the job the upload creates is left pending:
parsing is bench/skype_etl.py's business, and it must not compete for the cores
while we measure).

Measured:
- ``gateway_mb_per_s``: ``POST /api/upload?async=true`` (multipart, the file part
  streamed from a generator, never held in memory), from the first byte sent to the
  ``{"task_id"}`` answer (the object is complete in S3 and the job committed by then);
- ``direct_s3_mb_per_s``: boto3 ``upload_fileobj`` of the same number of bytes to the
  same object store, 8 MiB parts, 2 in flight (ingest's defaults);
- peak RSS of the gateway and ingest processes during the upload (sampled every 20 ms),
  and their RSS before it. Target (issue 9): under 100 MB each.

Run: ``python -m bench.upload [--mib 1024]``. On a shared machine the absolute MB/s
mean little; the ratio of the two in one run does. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import psutil
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from bench.accounts import skype_api_key
from deploy.backing import start_backing
from deploy.platform import start_platform
from deploy.topology import PROCESSES

MIB = 1024 * 1024
CHUNK = MIB
PART = 8 * MIB
PREFIX = b'{"userId": "8:live:bench", "exportDate": "2020-07-06T20:55", "padding": "'
SUFFIX = b'", "conversations": []}'


class PeakRss:
    """Samples the RSS of some processes in a thread; ``peak`` per name, in bytes."""

    def __init__(self, pids: dict[str, int], interval: float = 0.02) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = {name: 0 for name in pids}
        self.before = {name: proc.memory_info().rss for name, proc in self._procs.items()}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak[name], rss)
            time.sleep(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def file_bytes(size: int) -> Iterator[bytes]:
    """A JSON document of exactly ``size`` bytes (a Skype header and a long string)."""
    filler = b"x" * CHUNK
    middle = size - len(PREFIX) - len(SUFFIX)
    yield PREFIX
    while middle > 0:
        piece = filler if middle >= CHUNK else filler[:middle]
        middle -= len(piece)
        yield piece
    yield SUFFIX


def multipart_body(size: int, boundary: str) -> Iterator[bytes]:
    yield (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="user_display_name"\r\n\r\nBench\r\n'
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="messages.json"\r\n'
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    yield from file_bytes(size)
    yield f"\r\n--{boundary}--\r\n".encode()


class GeneratedFile(io.RawIOBase):
    """A read-only file object over :func:`file_bytes` (for boto3's upload_fileobj)."""

    def __init__(self, size: int) -> None:
        self._chunks = file_bytes(size)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count


def direct_put(env: dict[str, str], size: int) -> float:
    """Seconds for a direct multipart upload of ``size`` bytes to the platform's S3."""
    s3 = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )
    bucket = "bench-direct"
    s3.create_bucket(Bucket=bucket)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=2)
    started = time.perf_counter()
    s3.upload_fileobj(
        io.BufferedReader(GeneratedFile(size), CHUNK), bucket, "direct", Config=config
    )
    seconds = time.perf_counter() - started
    s3.delete_object(Bucket=bucket, Key="direct")
    return seconds


def gateway_upload(gateway_url: str, api_key: str, size: int) -> tuple[float, dict[str, object]]:
    boundary = secrets.token_hex(16)
    total = sum(len(piece) for piece in multipart_body(size, boundary))
    with httpx.Client(base_url=gateway_url, timeout=600) as client:
        started = time.perf_counter()
        response = client.post(
            "/api/upload",
            params={"async": "true"},
            headers={
                "X-API-Key": api_key,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(total),
            },
            content=multipart_body(size, boundary),
        )
        seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"upload failed: {response.status_code} {response.text[:500]}")
    return seconds, response.json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="upload size in MiB")
    args = parser.parse_args(argv)
    # The file part, so that the whole multipart body stays within the gateway's limit
    # (GATEWAY_MAX_UPLOAD_BYTES counts the body, form framing included).
    size = args.mib * MIB - 4096
    names = [p.name for p in PROCESSES if p.name != "worker"]
    env = {
        "QUARRY_ENV": "test",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        "GATEWAY_REQUIRE_WORKER": "false",
        "LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        root = Path(tmp)
        with (
            start_backing(root / "backing", persistent=False) as backing,
            start_platform(root / "platform", backing, extra_env=env, only=names) as platform,
        ):
            api_key = skype_api_key(platform.gateway_url)
            direct_seconds = direct_put(platform.env, size)
            pids = {
                "gateway": platform.processes["gateway"].pid,
                "ingest": platform.processes["ingest"].pid,
            }
            with PeakRss(pids) as rss:
                try:
                    gateway_seconds, body = gateway_upload(platform.gateway_url, api_key, size)
                except SystemExit:
                    print(platform.processes["ingest"].log_tail(30), file=sys.stderr)
                    raise
    mb = size / 1e6
    figures = {
        "bytes": size,
        "gateway_mb_per_s": round(mb / gateway_seconds, 1),
        "direct_s3_mb_per_s": round(mb / direct_seconds, 1),
        "gateway_vs_direct": round(direct_seconds / gateway_seconds, 3),
        "gateway_peak_rss_mb": round(rss.peak["gateway"] / 1e6, 1),
        "ingest_peak_rss_mb": round(rss.peak["ingest"] / 1e6, 1),
        "gateway_rss_before_mb": round(rss.before["gateway"] / 1e6, 1),
        "ingest_rss_before_mb": round(rss.before["ingest"] / 1e6, 1),
        "task_id": body.get("task_id"),
        "cpus": os.cpu_count(),
    }
    print(
        f"{args.mib} MiB: gateway {figures['gateway_mb_per_s']} MB/s "
        f"({gateway_seconds:.2f} s), direct S3 PUT {figures['direct_s3_mb_per_s']} MB/s "
        f"({direct_seconds:.2f} s); peak RSS gateway {figures['gateway_peak_rss_mb']} MB, "
        f"ingest {figures['ingest_peak_rss_mb']} MB",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
