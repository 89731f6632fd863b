"""Chat export benchmark: 100k chat messages exported as JSON, Excel and ZIP through the
gateway, beside a naive in-memory baseline (pandas + openpyxl) in the same run.

What runs (loopback only, stopped at the end): PostgreSQL, Redis and moto
(``deploy.backing``) and the platform's processes (``deploy.platform``) without the
worker (exports do not use it). One tenant's messages are posted first through
``POST /client/chats/batch`` (``samples.chats``: addresses of several countries and
networks, formula-looking and non-Latin text; geolocated at ingestion as in
production), untimed. The gateway's general and export rate limits are raised for the
run: the bench posts a thousand batches and exports several times.

Measured, each format in turn (``GET /client/export/chats/download?format=...&limit=N
&include_geo=true&include_meta=true``, the whole tenant, geo and meta data included):
- ``<format>_seconds``: from the request sent to the last byte received;
- ``<format>_first_byte_ms``: from the request sent to the first body byte (the
  export streams: the file's head leaves before its rows are read);
- the CPU seconds the analysis process and the gateway spent meanwhile (on a busy
  machine these say more than the wall clock);
- the peak RSS of the analysis process (where the export runs) and of the gateway,
  sampled every 20 ms, with their RSS before the exports. Each file is checked after
  its clock stops (the record count in the JSON, the workbook's sheets, the ZIP's two
  members).

The naive baseline runs in a child process of its own (its peak RSS is its own): one
``SELECT`` of the same rows into a pandas DataFrame (asyncpg ``fetch``), then JSON
(``to_dict`` records nested into the spec's structure, pandas aggregates for the
summary, ``json.dumps``) and, separately from a fresh ``SELECT``, Excel
(``DataFrame.to_excel`` with openpyxl, a "Chat Messages" and a "Summary" sheet, into
memory). It sends nothing: its first byte could leave only when it is done.

Targets (issue 12): JSON < 1 s, Excel < 2 s, analysis peak RSS < 200 MB, first byte
< 200 ms, on this 2-core machine.

Run: ``python -m bench.export [--messages 100000] [--repeat 1]``. With ``--repeat``
each format is exported that many times and the fastest run is reported (RSS: the
highest). ``--profile DIR`` (py-spy on PATH) records where the analysis process spends
each export's time (collapsed stacks; the clocks then include py-spy's sampling).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from bench.upload import PeakRss
from deploy.backing import start_backing
from deploy.platform import start_platform
from deploy.topology import PROCESSES

PASSWORD = "Str0ng_Pass!"
BATCH = 500
FORMATS = ("json", "excel", "both")
NAIVE_SQL = """
SELECT id::text AS id, from_name, message, reply, sent_at AS timestamp, conversation_id,
       token_cost, host(user_ip) AS user_ip, user_agent, referrer, session_id, is_embed_user,
       country, country_code, isp, organization, ip_type, created_at, client_id,
       from_user_id, user_name, user_email
FROM analysis.chat_messages WHERE client_id = $1 ORDER BY sent_at DESC, id LIMIT $2
"""
COUNT_SQL = "SELECT count(*) FROM analysis.chat_messages WHERE client_id = $1"
EXTENT_SQL = "SELECT min(sent_at), max(sent_at) FROM analysis.chat_messages WHERE client_id = $1"
COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = 'analysis' AND table_name = 'chat_messages' ORDER BY ordinal_position"
)
TRIM_SQL = (
    "DELETE FROM analysis.chat_messages WHERE id IN (SELECT id FROM analysis.chat_messages "
    "WHERE client_id = $1 ORDER BY sent_at LIMIT $2)"
)
GEO = ("country", "country_code", "isp", "organization", "ip_type")
META = ("created_at", "client_id", "from_user_id", "user_name", "user_email")


# --- the platform's exports ---------------------------------------------------------


def account(gateway_url: str) -> tuple[str, str]:
    """A new user (a tenant of its own): its bearer token and client id."""
    username = f"bench{secrets.token_hex(4)}"
    with httpx.Client(base_url=gateway_url, timeout=60) as client:
        registered = client.post(
            "/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        if registered.status_code != 201:
            raise SystemExit(f"register failed: {registered.status_code} {registered.text}")
        login = client.post("/auth/login", json={"username": username, "password": PASSWORD})
        if login.status_code != 200:
            raise SystemExit(f"login failed: {login.status_code} {login.text}")
    token: str = login.json()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return token, str(claims["cid"])  # the tenant (read, not verified)


def batches(messages: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    from samples.chats import batches as sample_batches
    from samples.chats import chat_messages

    # A hundred messages a conversation (one address each): a thousand batch requests.
    samples = chat_messages(messages, seed=12, per_conversation=100, step_seconds=7)
    for address, bodies in sample_batches(samples, BATCH):
        yield address.ip, bodies


async def ingest(gateway_url: str, token: str, messages: int, concurrency: int = 4) -> int:
    """``messages`` messages through ``POST /client/chats/batch``; the number stored."""
    queue: asyncio.Queue[tuple[str, list[dict[str, Any]]] | None] = asyncio.Queue(concurrency * 2)
    stored = 0

    async def send(client: httpx.AsyncClient) -> None:
        nonlocal stored
        while (item := await queue.get()) is not None:
            ip, bodies = item
            response = await client.post(
                "/client/chats/batch",
                json={"messages": bodies},
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": ip},
            )
            if response.status_code != 201:
                raise SystemExit(f"ingest failed: {response.status_code} {response.text[:300]}")
            stored += len(bodies)

    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as client:
        senders = [asyncio.create_task(send(client)) for _ in range(concurrency)]
        for item in batches(messages):
            await queue.put(item)
        for _ in senders:
            await queue.put(None)
        await asyncio.gather(*senders)
    return stored


async def replicate(dsn: str, client_id: str, messages: int) -> int:
    """Copies of the tenant's posted messages (new ids, conversations, sessions and
    users, each copy earlier in time than the last) until it has ``messages``; the
    number it has. Geolocation and text are the posted ones'."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        have = await connection.fetchval(COUNT_SQL, client_id)
        if have >= messages or have == 0:
            return int(have)
        first, last = await connection.fetchrow(EXTENT_SQL, client_id)
        copies = -(-messages // have) - 1
        columns = [row["column_name"] for row in await connection.fetch(COLUMNS_SQL)]
        suffixed = {"external_id", "conversation_id", "session_id", "from_user_id"}
        values = []
        for column in columns:
            if column == "id":
                values.append("gen_random_uuid()")
            elif column in suffixed:
                values.append(f"m.{column} || '-' || k")
            elif column in ("sent_at", "created_at"):
                values.append(f"m.{column} - make_interval(secs => k * $3::float8)")
            else:
                values.append(f"m.{column}")
        # The names come from the catalogue; every value is a parameter.
        copy_sql = (
            f"INSERT INTO analysis.chat_messages ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM analysis.chat_messages m "
            "CROSS JOIN generate_series(1, $2::int) AS k WHERE m.client_id = $1"
        )
        async with connection.transaction():
            span = (last - first).total_seconds() + 60
            await connection.execute(copy_sql, client_id, copies, span)
            await connection.execute(TRIM_SQL, client_id, have * (copies + 1) - messages)
        await connection.execute("VACUUM ANALYZE analysis.chat_messages")
        return int(await connection.fetchval(COUNT_SQL, client_id))
    finally:
        await connection.close()


def download(gateway_url: str, token: str, fmt: str, limit: int) -> tuple[dict[str, float], bytes]:
    params = {
        "format": fmt,
        "limit": str(limit),
        "include_geo": "true",
        "include_meta": "true",
    }
    body = io.BytesIO()
    first: float | None = None
    with httpx.Client(base_url=gateway_url, timeout=600) as client:
        started = time.perf_counter()
        with client.stream(
            "GET",
            "/client/export/chats/download",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            for chunk in response.iter_raw():
                if first is None:
                    first = time.perf_counter()
                body.write(chunk)
        done = time.perf_counter()
    data = body.getvalue()
    if response.status_code != 200:
        raise SystemExit(f"export {fmt} failed: {response.status_code} {data[:300]!r}")
    assert first is not None
    return {
        "seconds": done - started,
        "first_byte_ms": (first - started) * 1000,
        "bytes": len(data),
    }, data


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def postgres_cpu(port: int) -> float:
    """CPU seconds of the bench's own PostgreSQL (the server listening on ``port``, and
    its backends): other servers on a shared machine come and go."""
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] not in ("postgres", "postmaster"):
            continue
        if f"port={port}" not in (process.info["cmdline"] or ()):
            continue
        with contextlib.suppress(psutil.Error):
            for member in (process, *process.children(recursive=True)):
                total += cpu_seconds(member)
    return total


@contextlib.contextmanager
def profiled(directory: Path | None, pid: int, fmt: str) -> Iterator[None]:
    """py-spy (on PATH) samples the analysis process meanwhile into DIR/<format>.txt
    (collapsed stacks, thread ids kept: the export's writing runs in worker threads)."""
    if directory is None:
        yield
        return
    tool = shutil.which("py-spy")
    if tool is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{fmt}.txt"
    command = [tool, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-t", "-o", str(out)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the request leaves
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)


def check(fmt: str, data: bytes, messages: int) -> None:
    """The file is what its format promises (after the clock stopped)."""
    if fmt == "json":
        document = json.loads(data)
        assert document["export_info"]["total_records"] == messages, document["export_info"]
        assert len(document["messages"]) == messages
        assert document["summary"]["total_messages"] == messages
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if fmt == "excel":
            workbook = archive.read("xl/workbook.xml").decode()
            if "Chat Messages" not in workbook or "Summary" not in workbook:
                raise SystemExit(f"the workbook lacks its sheets: {workbook[:300]}")
        else:
            assert sorted(n.rsplit(".", 1)[-1] for n in names) == ["json", "xlsx"], names


# --- the naive baseline (a child process) -------------------------------------------


async def naive_fetch(dsn: str, client_id: str, limit: int) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(NAIVE_SQL, client_id, limit))
    finally:
        await connection.close()


def naive_frame(dsn: str, client_id: str, limit: int) -> Any:
    import pandas as pd

    rows = asyncio.run(naive_fetch(dsn, client_id, limit))
    columns = list(rows[0].keys()) if rows else []
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def naive_summary(frame: Any) -> dict[str, Any]:
    per_conversation = frame.groupby("conversation_id").size()
    users = frame["from_user_id"].fillna(frame["session_id"]).fillna(frame["user_ip"])
    return {
        "total_messages": len(frame),
        "total_tokens": int(frame["token_cost"].fillna(0).sum()),
        "unique_users": int(users.nunique()),
        "date_range": f"{frame['timestamp'].min().date()} to {frame['timestamp'].max().date()}",
        "top_countries": [
            {"country": k, "count": int(v)}
            for k, v in frame["country"].value_counts().head(10).items()
        ],
        "top_isps": [
            {"isp": k, "count": int(v)} for k, v in frame["isp"].value_counts().head(10).items()
        ],
        "ip_type_breakdown": {k: int(v) for k, v in frame["ip_type"].value_counts().items()},
        "conversation_stats": {
            "total_conversations": len(per_conversation),
            "avg_messages_per_conversation": round(float(per_conversation.mean()), 2),
            "longest_conversation": int(per_conversation.max()),
        },
    }


def naive_json(dsn: str, client_id: str, limit: int) -> int:
    frame = naive_frame(dsn, client_id, limit)
    records = frame.to_dict(orient="records")
    messages = []
    for record in records:
        message = {k: v for k, v in record.items() if k not in GEO and k not in META}
        message["geo_data"] = {k: record[k] for k in GEO}
        message["meta_data"] = {k: record[k] for k in META}
        messages.append(message)
    document = {
        "export_info": {"total_records": len(frame), "format": "json"},
        "messages": messages,
        "summary": naive_summary(frame),
    }
    return len(json.dumps(document, default=str).encode())


def naive_excel(dsn: str, client_id: str, limit: int) -> int:
    import pandas as pd

    frame = naive_frame(dsn, client_id, limit)
    summary = naive_summary(frame)
    for column in ("timestamp", "created_at"):
        frame[column] = frame[column].dt.tz_localize(None)  # openpyxl refuses time zones
    rows = [(key, value) for key, value in summary.items() if not isinstance(value, (list, dict))]
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Chat Messages", index=False)
        pd.DataFrame(rows, columns=["metric", "value"]).to_excel(
            writer, sheet_name="Summary", index=False
        )
    return len(out.getvalue())


def naive_child(dsn: str, client_id: str, limit: int) -> int:
    import asyncpg  # noqa: F401  (imported before the clocks start, as a server has)
    import openpyxl  # noqa: F401
    import pandas  # noqa: F401

    figures: dict[str, float] = {}
    started = time.perf_counter()
    figures["naive_json_bytes"] = naive_json(dsn, client_id, limit)
    figures["naive_json_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    figures["naive_excel_bytes"] = naive_excel(dsn, client_id, limit)
    figures["naive_excel_seconds"] = time.perf_counter() - started
    figures["naive_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000
    print(json.dumps(figures))
    return 0


def naive(dsn: str, client_id: str, limit: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--naive-child", dsn, client_id, str(limit)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"naive baseline failed:\n{done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- the run ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--naive-child"]:
        return naive_child(arguments[1], arguments[2], int(arguments[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument(
        "--posted", type=int, default=5000, help="messages posted (the rest copied in SQL)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the analysis process during each export into DIR/<format>.txt",
    )
    parser.add_argument("--repeat", type=int, default=1, help="exports per format (best kept)")
    args = parser.parse_args(arguments)
    names = [p.name for p in PROCESSES if p.name != "worker"]
    env = {
        "QUARRY_ENV": "test",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        "GATEWAY_REQUIRE_WORKER": "false",
        "GATEWAY_TRUSTED_PROXIES": json.dumps(["127.0.0.1/32", "::1/128"]),
        "GATEWAY_RATE_LIMIT_API": "100000/60",
        "GATEWAY_RATE_LIMIT_EXPORT_USER": "1000/60",
        "GATEWAY_RATE_LIMIT_EXPORT_CLIENT": "1000/3600",
        "LOG_LEVEL": "WARNING",
    }
    runs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(tmp)
        with (
            start_backing(root / "backing", persistent=False) as backing,
            start_platform(root / "platform", backing, extra_env=env, only=names) as platform,
        ):
            gateway = platform.gateway_url
            token, client_id = account(gateway)
            dsn = backing.database_url.replace("postgresql+asyncpg://", "postgresql://")
            started = time.perf_counter()
            posted = asyncio.run(ingest(gateway, token, min(args.posted, args.messages)))
            posted_seconds = time.perf_counter() - started
            stored = asyncio.run(replicate(dsn, client_id, args.messages))
            print(
                f"{posted} messages posted through POST /client/chats/batch in "
                f"{posted_seconds:.1f} s, copied in SQL to {stored}",
                file=sys.stderr,
            )
            pids = {
                "analysis": platform.processes["analysis"].pid,
                "gateway": platform.processes["gateway"].pid,
            }
            database_port = urlsplit(backing.database_url).port or 5432
            procs = {name: psutil.Process(pid) for name, pid in pids.items()}
            with PeakRss(pids) as rss:
                for fmt in FORMATS:
                    for _ in range(args.repeat):
                        cpu_before = {n: cpu_seconds(p) for n, p in procs.items()}
                        database_before = postgres_cpu(database_port)
                        with profiled(args.profile, pids["analysis"], fmt):
                            figures, data = download(gateway, token, fmt, args.messages)
                        for name, proc in procs.items():
                            figures[f"{name}_cpu"] = cpu_seconds(proc) - cpu_before[name]
                        figures["postgres_cpu"] = postgres_cpu(database_port) - database_before
                        check(fmt, data, stored)
                        best = runs.get(fmt)
                        if best is None or figures["seconds"] < best["seconds"]:
                            runs[fmt] = figures
                        del data
            baseline = naive(dsn, client_id, args.messages)
    figures: dict[str, Any] = {
        "messages": stored,
        "json_seconds": round(runs["json"]["seconds"], 3),
        "excel_seconds": round(runs["excel"]["seconds"], 3),
        "zip_seconds": round(runs["both"]["seconds"], 3),
        "peak_rss_mb": round(rss.peak["analysis"] / 1e6, 1),
        "first_byte_ms": round(runs["json"]["first_byte_ms"], 1),
        "excel_first_byte_ms": round(runs["excel"]["first_byte_ms"], 1),
        "zip_first_byte_ms": round(runs["both"]["first_byte_ms"], 1),
        "json_analysis_cpu_s": round(runs["json"]["analysis_cpu"], 2),
        "excel_analysis_cpu_s": round(runs["excel"]["analysis_cpu"], 2),
        "zip_analysis_cpu_s": round(runs["both"]["analysis_cpu"], 2),
        "json_gateway_cpu_s": round(runs["json"]["gateway_cpu"], 2),
        "json_postgres_cpu_s": round(runs["json"]["postgres_cpu"], 2),
        "excel_postgres_cpu_s": round(runs["excel"]["postgres_cpu"], 2),
        "naive_json_seconds": round(baseline["naive_json_seconds"], 3),
        "naive_excel_seconds": round(baseline["naive_excel_seconds"], 3),
        "naive_peak_rss_mb": round(baseline["naive_peak_rss_mb"], 1),
        "analysis_rss_before_mb": round(rss.before["analysis"] / 1e6, 1),
        "gateway_peak_rss_mb": round(rss.peak["gateway"] / 1e6, 1),
        "json_mb": round(runs["json"]["bytes"] / 1e6, 1),
        "excel_mb": round(runs["excel"]["bytes"] / 1e6, 1),
        "zip_mb": round(runs["both"]["bytes"] / 1e6, 1),
        "naive_json_mb": round(baseline["naive_json_bytes"] / 1e6, 1),
        "naive_excel_mb": round(baseline["naive_excel_bytes"] / 1e6, 1),
        "posted": posted,
        "posted_per_s": round(posted / posted_seconds, 1),
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
    }
    print(
        f"{stored} messages: JSON {figures['json_seconds']} s (naive "
        f"{figures['naive_json_seconds']} s), Excel {figures['excel_seconds']} s (naive "
        f"{figures['naive_excel_seconds']} s), ZIP {figures['zip_seconds']} s; first byte "
        f"{figures['first_byte_ms']} ms; analysis peak RSS {figures['peak_rss_mb']} MB "
        f"(naive {figures['naive_peak_rss_mb']} MB)",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
