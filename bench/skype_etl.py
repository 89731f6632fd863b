"""Skype ETL benchmark: exports of 100k and 1M messages end to end through the platform,
beside two baselines in the same run.

- **platform**: ``POST /api/upload?async=true`` through the gateway (a ``.tar`` export
  written by ``samples.skype``), S3, the outbox and SQS, the worker's streaming parse
  (skypelib), COPY into ``analysis.skype_messages``, the analysis document stored; the
  clock stops when ``GET /api/analysis/{export_id}`` answers. The worker process's peak
  RSS is sampled every 20 ms meanwhile (the Skype parse runs in it, in a thread); its
  children (the documents' converter zygote, idle here) are reported apart.
- **naive**: ``json.load`` of messages.json (read from the tar), then one ``INSERT`` per
  message (asyncpg, one transaction). Measured on at most ``--naive-limit`` messages
  (it runs at a few thousand per second: a 1M run would take many minutes); its rate is
  per message like the others.
- **fast**: ``orjson.loads`` of the whole messages.json and a walk, then
  ``copy_records_to_table`` (binary COPY) of the same columns; peak RSS of its process.

Target (issue 9): >= 150k messages/s end to end on this 2-core machine, worker peak RSS
< 300 MB at 100k and at 1M. The baselines do no markup cleaning and no analysis: they
bound what the bare load costs.

Run: ``python -m bench.skype_etl [--sizes 100000,1000000] [--naive-limit 100000]
[--breakdown]``; ``--breakdown`` adds ``transform_breakdown``: the worker's transform
CPU time per message split into parse, analytics and COPY rows (the profile of where
the time goes), measured after the platform has stopped.
Exports are generated once into ``--data`` (default ``$TMPDIR/quarry-bench-skype``) and
reused. The last line is one JSON object (the largest size's figures, every size under
``runs``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.accounts import skype_api_key
from deploy.backing import start_backing
from deploy.platform import start_platform

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("conversation_id", "message_id", "sender_id", "sent_at", "raw_type", "content")
TABLE_SQL = """
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.{name};
CREATE TABLE bench.{name} (
    conversation_id text NOT NULL, message_id text NOT NULL, sender_id text NOT NULL,
    sent_at timestamptz, raw_type text NOT NULL, content text NOT NULL
);
"""


def export_path(data: Path, messages: int) -> Path:
    """The generated export of ``messages`` messages (written on first use)."""
    path = data / f"skype-{messages}.tar"
    if not path.exists():
        from samples.skype import write_export

        data.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        write_export(partial, messages, seed=1)
        partial.rename(path)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def messages_json(tar_path: Path) -> bytes:
    with tarfile.open(tar_path) as tar:
        member = tar.extractfile("messages.json")
        assert member is not None
        return member.read()


def walk(document: dict[str, Any], limit: int | None) -> list[tuple[Any, ...]]:
    from datetime import datetime

    rows: list[tuple[Any, ...]] = []
    for conversation in document.get("conversations", []):
        for message in conversation.get("MessageList") or []:
            sent = message.get("originalarrivaltime")
            rows.append(
                (
                    conversation.get("id") or "",
                    str(message.get("id") or ""),
                    message.get("from") or "",
                    datetime.fromisoformat(sent.replace("Z", "+00:00")) if sent else None,
                    message.get("messagetype") or "",
                    (message.get("content") or "").replace("\x00", ""),
                )
            )
            if limit is not None and len(rows) >= limit:
                return rows
    return rows


async def _baseline(
    kind: str, tar_path: Path, database_url: str, limit: int | None
) -> dict[str, Any]:
    import asyncpg

    table = f"messages_{kind}"
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(TABLE_SQL.format(name=table))
        started = time.perf_counter()
        raw = messages_json(tar_path)
        if kind == "naive":
            document = json.loads(raw.decode("utf-8"))
            del raw
            rows = walk(document, limit)
            async with connection.transaction():
                for row in rows:
                    await connection.execute(
                        f"INSERT INTO bench.{table} VALUES ($1, $2, $3, $4, $5, $6)",  # noqa: S608
                        *row,
                    )
        else:
            import orjson

            document = orjson.loads(raw)
            del raw
            rows = walk(document, limit)
            await connection.copy_records_to_table(
                table, records=rows, columns=list(COLUMNS), schema_name="bench"
            )
        seconds = time.perf_counter() - started
        count = len(rows)
        await connection.execute(f"DROP TABLE bench.{table}")
    finally:
        await connection.close()
    return {"messages": count, "seconds": seconds, "peak_rss_mb": _vm_hwm_mb()}


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) * 1024 / 1e6, 1)
    return 0.0


def run_baseline(kind: str, tar_path: Path, database_url: str, limit: int | None) -> dict[str, Any]:
    """The baseline in a process of its own (its peak RSS is its own)."""
    argv = [sys.executable, "-m", "bench.skype_etl", "--baseline", kind, "--file", str(tar_path)]
    argv += ["--database", database_url]
    if limit is not None:
        argv += ["--naive-limit", str(limit)]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True, timeout=3600)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


class PeakRss:
    """Peak RSS of a process (``peak``) and, apart, of its children (``children_peak``:
    the documents' converter zygote lives under the worker and parses no Skype)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self.children_peak = 0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                own = self._process.memory_info().rss
                children = sum(
                    child.memory_info().rss for child in self._process.children(recursive=True)
                )
            except psutil.Error:
                own = children = 0
            self.peak = max(self.peak, own)
            self.children_peak = max(self.children_peak, children)
            time.sleep(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def platform_run(gateway_url: str, api_key: str, tar_path: Path, worker_pid: int) -> dict[str, Any]:
    headers = {"X-API-Key": api_key}
    with httpx.Client(base_url=gateway_url, timeout=900) as client, PeakRss(worker_pid) as rss:
        started = time.perf_counter()
        with tar_path.open("rb") as body:
            response = client.post(
                "/api/upload",
                params={"async": "true"},
                headers=headers,
                files={"file": (tar_path.name, body, "application/x-tar")},
            )
        response.raise_for_status()
        uploaded = time.perf_counter() - started
        task_id = response.json()["task_id"]
        while True:
            job = client.get(f"/jobs/{task_id}", headers={**headers, "Prefer": "wait=120"}).json()
            if job["status"] in ("completed", "failed"):
                break
        if job["status"] != "completed":
            raise SystemExit(f"the job failed: {job.get('error')}")
        export_id = job["result"]["export_id"]
        analysis = client.get(f"/api/analysis/{export_id}", headers=headers)
        analysis.raise_for_status()
        seconds = time.perf_counter() - started
    result = job["result"]
    return {
        "messages": result["message_count"],
        "seconds": seconds,
        "upload_seconds": uploaded,
        "phases": {k: v["duration_seconds"] for k, v in result["phases"].items()},
        "worker_peak_rss_mb": round(rss.peak / 1e6, 1),
        "worker_children_peak_rss_mb": round(rss.children_peak / 1e6, 1),
        "analysis_message_count": analysis.json()["message_count"],
    }


def measure(sizes: list[int], data: Path, naive_limit: int) -> list[dict[str, Any]]:
    exports = {size: export_path(data, size) for size in sizes}
    env = {
        "QUARRY_ENV": "test",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        "GATEWAY_RATE_LIMIT_API": "100000/60",
        "LOG_LEVEL": "WARNING",
    }
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-skype-") as tmp:
        root = Path(tmp)
        with (
            start_backing(root / "backing", persistent=False) as backing,
            start_platform(root / "platform", backing, extra_env=env) as platform,
        ):
            api_key = skype_api_key(platform.gateway_url)
            worker_pid = platform.processes["worker"].pid
            for size in sizes:
                tar_path = exports[size]
                run = platform_run(platform.gateway_url, api_key, tar_path, worker_pid)
                naive = run_baseline("naive", tar_path, backing.database_url, naive_limit)
                fast = run_baseline("fast", tar_path, backing.database_url, None)
                figures = {
                    "messages": run["messages"],
                    "export_mb": round(tar_path.stat().st_size / 1e6, 1),
                    "platform_msgs_per_s": round(run["messages"] / run["seconds"]),
                    "platform_seconds": round(run["seconds"], 2),
                    "upload_seconds": round(run["upload_seconds"], 2),
                    "phases": run["phases"],
                    "naive_msgs_per_s": round(naive["messages"] / naive["seconds"]),
                    "naive_messages_measured": naive["messages"],
                    "fast_msgs_per_s": round(fast["messages"] / fast["seconds"]),
                    "worker_peak_rss_mb": run["worker_peak_rss_mb"],
                    "worker_children_peak_rss_mb": run["worker_children_peak_rss_mb"],
                    "fast_peak_rss_mb": fast["peak_rss_mb"],
                    "naive_peak_rss_mb": naive["peak_rss_mb"],
                }
                print(json.dumps(figures), file=sys.stderr)
                runs.append(figures)
    return runs


def breakdown(tar_path: Path) -> dict[str, Any]:
    """Where the worker's transform time goes (one process, the worker's code, no
    platform): CPU seconds per message of the parse alone, + the analytics, + the COPY
    rows (CSV), each pass over the same export, in batches as the worker takes them
    (``skype_parse.BATCH_MESSAGES``); the columns (``message_columns``) are counted in
    both. The rows' CSV is written by polars without the GIL (another thread in the
    worker): ``copy_rows_gil_us_per_msg`` is the part that holds it (the frame)."""
    import io

    from services.ingest.worker import bulk_rows
    from services.ingest.worker.skype import (
        ParseLimits,
        SkypeAnalytics,
        open_messages_json,
        parse_export,
    )
    from services.ingest.worker.skype.columns import message_columns
    from services.ingest.worker.skype_parse import BATCH_MESSAGES

    frame_seconds = 0.0

    def one_pass(analyse: bool, rows: bool) -> tuple[int, float]:
        nonlocal frame_seconds
        started = time.process_time()
        limits = ParseLimits()
        count = 0
        pending: list[Any] = []
        with open_messages_json(tar_path, limits) as stream:
            export = parse_export(stream, limits)
            analytics = SkypeAnalytics(owner_id=None)

            def flush(batch: list[Any]) -> None:
                nonlocal frame_seconds
                if not (analyse or rows):
                    return
                columns = message_columns(batch)
                if analyse:
                    analytics.add_batch(batch, columns)
                if rows:
                    before = time.process_time()
                    frame = bulk_rows.message_frame(1, count, "c", columns)
                    frame_seconds += time.process_time() - before
                    bulk_rows.write_message_rows(io.BytesIO(), frame)

            for batch in export.batches():
                count += len(batch)
                pending.extend(batch)
                if len(pending) >= BATCH_MESSAGES:
                    flush(pending)
                    pending = []
            flush(pending)
            if analyse:
                analytics.owner_id = export.header.user_id
                analytics.result(export.conversations(), export.contact_names())
        return count, time.process_time() - started

    count, parse_s = one_pass(False, False)
    _, analytics_s = one_pass(True, False)
    _, rows_s = one_pass(False, True)
    rows_frame_s = frame_seconds
    _, all_s = one_pass(True, True)
    us = 1e6 / count
    return {
        "messages": count,
        "parse_us_per_msg": round(parse_s * us, 2),
        "analytics_us_per_msg": round((analytics_s - parse_s) * us, 2),
        "copy_rows_us_per_msg": round((rows_s - parse_s) * us, 2),
        "copy_rows_gil_us_per_msg": round(rows_frame_s * us, 2),
        "transform_us_per_msg": round(all_s * us, 2),
        "transform_cpu_msgs_per_s": round(count / all_s),
        "parse_only_cpu_msgs_per_s": round(count / parse_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--naive-limit", type=int, default=100_000)
    parser.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "quarry-bench-skype"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also split the worker's transform CPU time into parse, analytics, COPY rows",
    )
    parser.add_argument("--baseline", choices=["naive", "fast"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline:
        limit = args.naive_limit if args.baseline == "naive" else None
        print(json.dumps(asyncio.run(_baseline(args.baseline, args.file, args.database, limit))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    runs = measure(sizes, args.data, args.naive_limit)
    largest = max(runs, key=lambda r: r["messages"])
    extra: dict[str, Any] = {}
    if args.breakdown:
        extra["transform_breakdown"] = breakdown(export_path(args.data, max(sizes)))
        print(json.dumps(extra["transform_breakdown"]), file=sys.stderr)
    print(json.dumps({**largest, **extra, "cpus": os.cpu_count(), "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
