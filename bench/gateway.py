"""Gateway benchmark: authenticated GETs through the gateway next to the same GETs sent
straight to the service and through a bare nginx pass-through, in one run, at 1 and 50
connections, on a cheap route and on a database route, with the gateway of a baseline
revision ("before") beside the current one ("after").

What runs (all on loopback, all stopped at the end):

- the stand-in service of :mod:`bench.gateway_service` (the services' own app factory):
  ``GET /sessions`` as cheap as a ``/ping``, and ``GET /api/exports`` that verifies the
  Bearer token and runs one SQL query on a real PostgreSQL; it also stands in for auth
  (JWKS, introspection);
- the gateway as ``python -m gateway serve`` with authentication and rate limiting ON:
  every request is authenticated (Bearer verified, or ``X-API-Key`` introspected once
  and cached) and consumes a rate-limit hit in a real Redis; the limit is raised so that
  it never refuses (``GATEWAY_RATE_LIMIT_API``);
- the same gateway at the baseline revision (``--before REV``, extracted with
  ``git archive``; default :data:`BASELINE`, the spine before issue 7's hot-path work),
  against the same service, Redis and PostgreSQL;
- Debian's nginx (``proxy_pass`` with upstream keep-alive, no authentication);
- ``wrk`` as the load generator (C, one thread: it leaves the cores to the servers).

Targets (issue 7, "The gateway hot path"), at 50 connections with auth and limits on:
>= 50 % of the direct requests/s on the cheap route, >= 85 % on the database route; at
1 connection, < +0.5 ms on the median (Bearer, cheap route).

Besides requests/s and latency, the CPU time each process spends per request (user +
system, from ``/proc``, over each measurement): on a machine shared with other work the
requests/s of one 3-second window swing by 2x, the CPU a request costs much less. The
gateway's CPU per request against the service's (direct) is what bounds the ratio on
an otherwise idle 2-core machine (the gateway, the service and wrk share the cores).

Run: ``python -m bench.gateway`` (``--seconds N`` per measurement, ``--rounds R``,
``--before REV|none``). Measurements are interleaved (every target once per round, the
median kept), so a machine's noise hits them alike; on a shared machine the absolute
figures mean little, the ratios of one run do. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.gateway_service import BENCH_API_KEY, CHEAP_PATH, DATABASE_PATH, HOST

ROOT = Path(__file__).resolve().parent.parent
INTERNAL_TOKEN = "bench-internal-token-" + "x" * 16
# main before issue 7's hot-path work: two Lua calls per rate-limit rule, nine header
# passes, FIFO token cache.
BASELINE = "2343504"
ROUTES = {"cheap": CHEAP_PATH, "database": DATABASE_PATH}
CONNECTIONS = (1, 50)


# --- processes ------------------------------------------------------------------------


def free_port() -> int:
    from deploy.ports import free_port as pick

    return pick(HOST)


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


@contextmanager
def running(
    argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def ensure_tool(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` if it is missing (as root)."""
    found = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(f"{binary} is needed: apt-get install {package}")
    print(f"installing {package} (apt-get) ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)
    found = shutil.which(binary) or f"/usr/sbin/{binary}"
    if not Path(found).exists():
        raise SystemExit(f"{binary} still missing after installing {package}")
    return found


def baseline_tree(revision: str, destination: Path) -> Path | None:
    """The repository at ``revision`` (``git archive``), or ``None`` if git cannot give it."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"no baseline gateway: git archive {revision} failed ({exc})")
        return None
    destination.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
    return destination


NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream service {{ server {host}:{upstream}; keepalive 64; }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


# --- measuring --------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us: dict[str, float] | None = None  # CPU microseconds per request, by process


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unparsable latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(wrk: str, url: str, headers: dict[str, str], connections: int, seconds: int) -> Result:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?timeout (\d+)"):
        found = re.search(pattern, out)
        if found:
            errors += int(found.group(1))
    return Result(rps, p50, p99, errors, requests)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measured(
    wrk: str,
    url: str,
    headers: dict[str, str],
    connections: int,
    seconds: int,
    processes: dict[str, psutil.Process],
) -> Result:
    """``run_wrk`` with the CPU time each of ``processes`` spent per request."""
    before = {name: cpu_seconds(p) for name, p in processes.items()}
    result = run_wrk(wrk, url, headers, connections, seconds)
    if result.requests:
        result.cpu_us = {
            name: (cpu_seconds(p) - before[name]) / result.requests * 1e6
            for name, p in processes.items()
        }
    return result


def median(results: list[Result]) -> Result:
    names = set().union(*(r.cpu_us or {} for r in results))
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        requests=sum(r.requests for r in results),
        cpu_us={
            name: statistics.median((r.cpu_us or {}).get(name, 0.0) for r in results)
            for name in names
        },
    )


def check(url: str, headers: dict[str, str]) -> None:
    response = httpx.get(url, headers=headers, timeout=5)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")


def gateway_env(port: int, redis_url: str, service_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "QUARRY_ENV": "test",
        "QUARRY_PORT": str(port),
        "REDIS_URL": redis_url,
        "QUARRY_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "AUTH_INTERNAL_URL": service_url,
        "INGEST_INTERNAL_URL": service_url,
        "ANALYSIS_INTERNAL_URL": service_url,
        "PROFILE_INTERNAL_URL": service_url,
        "LOG_LEVEL": "WARNING",
        # Limits stay ON (every request costs its Redis call) but never refuse.
        "GATEWAY_RATE_LIMIT_API": "1000000000/60",
    }


# --- the run ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    parser.add_argument("--seconds", type=int, default=5, help="duration of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument(
        "--before", default=BASELINE, help="git revision of the 'before' gateway, or 'none'"
    )
    args = parser.parse_args(argv)
    return bench(args.seconds, args.rounds, None if args.before == "none" else args.before)


def bench(seconds: int, rounds: int, before: str | None) -> int:
    from deploy.postgres import run_postgres
    from deploy.redis_server import run_redis

    wrk = ensure_tool("wrk", "wrk")
    nginx = ensure_tool("nginx", "nginx-light")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="quarry-bench-")))
        pgdata = Path(tempfile.mkdtemp(prefix="quarry-bench-pg-"))
        stack.callback(shutil.rmtree, pgdata, ignore_errors=True)
        database_url = stack.enter_context(
            run_postgres(
                pgdata,
                log_path=work / "postgres.log",
                durable=False,
                superuser_password=secrets.token_urlsafe(16),
            )
        ).url()
        redis_url = stack.enter_context(
            run_redis(work / "redis", log_path=work / "redis.log", durable=False)
        )
        service_port = free_port()
        service = stack.enter_context(
            running(
                [sys.executable, "-m", "bench.gateway_service", "--port", str(service_port)],
                work / "service.log",
                {**os.environ, "BENCH_DATABASE_URL": database_url},
            )
        )
        service_url = f"http://{HOST}:{service_port}"
        wait_http(f"{service_url}/health", service, work / "service.log")

        gateways: dict[str, str] = {}
        port = free_port()
        process = stack.enter_context(
            running(
                [sys.executable, "-m", "gateway", "serve"],
                work / "gateway.log",
                gateway_env(port, redis_url, service_url),
            )
        )
        wait_http(f"http://{HOST}:{port}/healthcheck", process, work / "gateway.log")
        gateways["after"] = f"http://{HOST}:{port}"
        gateway_processes = {"after": psutil.Process(process.pid)}
        tree = baseline_tree(before, work / "baseline") if before else None
        if tree is not None:
            port = free_port()
            process = stack.enter_context(
                running(
                    [sys.executable, "-m", "gateway", "serve"],
                    work / "gateway-before.log",
                    gateway_env(port, redis_url, service_url),
                    cwd=tree,
                )
            )
            wait_http(f"http://{HOST}:{port}/healthcheck", process, work / "gateway-before.log")
            gateways["before"] = f"http://{HOST}:{port}"
            gateway_processes["before"] = psutil.Process(process.pid)

        nginx_port = free_port()
        (work / "nginx.conf").write_text(
            NGINX_CONF.format(dir=work, host=HOST, port=nginx_port, upstream=service_port)
        )
        nginx_process = stack.enter_context(
            running([nginx, "-c", str(work / "nginx.conf"), "-p", str(work)], work / "nginx.log")
        )
        nginx_url = f"http://{HOST}:{nginx_port}"
        wait_http(f"{nginx_url}/health", nginx_process, work / "nginx.log")

        token = httpx.get(f"{service_url}/bench/token").json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        api_key = {"X-API-Key": BENCH_API_KEY}
        bases: dict[str, tuple[str, dict[str, str]]] = {"direct": (service_url, bearer)}
        if "before" in gateways:
            bases["before (Bearer)"] = (gateways["before"], bearer)
        bases["gateway (Bearer)"] = (gateways["after"], bearer)
        bases["gateway (X-API-Key)"] = (gateways["after"], api_key)
        bases["nginx"] = (nginx_url, bearer)
        service_process = psutil.Process(service.pid)
        watched = {
            name: {"service": service_process}
            | (
                {"gateway": gateway_processes["before" if name.startswith("before") else "after"]}
                if name.startswith(("before", "gateway"))
                else {}
            )
            for name in bases
        }
        for base, headers in bases.values():
            for path in ROUTES.values():
                check(base + path, headers)
        limited = httpx.get(gateways["after"] + CHEAP_PATH, headers=bearer)
        assert "x-ratelimit-remaining" in limited.headers, "rate limiting is not on"

        print(
            f"authenticated GETs: cheap {CHEAP_PATH}, database {DATABASE_PATH}; {rounds} rounds "
            f"x {seconds}s per measurement (targets interleaved, medians reported); wrk -t1; "
            f"{os.cpu_count()} cores; before = {before or 'none'}"
        )
        runs: dict[tuple[str, int], dict[str, list[Result]]] = {}
        for round_number in range(1, rounds + 1):
            for connections in CONNECTIONS:
                for route, path in ROUTES.items():
                    cell = runs.setdefault((route, connections), {})
                    for name, (base, headers) in bases.items():
                        run_wrk(wrk, base + path, headers, connections, 1)  # warm-up
                        result = measured(
                            wrk, base + path, headers, connections, seconds, watched[name]
                        )
                        cell.setdefault(name, []).append(result)
                        cpu = " ".join(
                            f"{process} {us:.0f}us" for process, us in (result.cpu_us or {}).items()
                        )
                        print(
                            f"  round {round_number} c={connections:<3}{route:<9}{name:<21}"
                            f"{result.rps:>9.0f} req/s  p50 {result.p50_ms:7.3f} ms"
                            f"  p99 {result.p99_ms:7.3f} ms  cpu/request: {cpu}"
                            + (f"  errors {result.errors}" if result.errors else ""),
                            flush=True,
                        )
        results = {cell: {n: median(rows) for n, rows in row.items()} for cell, row in runs.items()}
        report(results)
    return 0


def _ratio(row: dict[str, Result], name: str) -> float | None:
    if name not in row or not row["direct"].rps:
        return None
    return round(row[name].rps / row["direct"].rps, 3)


def _added(row: dict[str, Result], name: str) -> float | None:
    if name not in row:
        return None
    return round(row[name].p50_ms - row["direct"].p50_ms, 3)


def _cpu(row: dict[str, Result], name: str, process: str) -> float | None:
    """CPU microseconds per request of ``process`` in the ``name`` measurement."""
    if name not in row or not row[name].cpu_us or process not in row[name].cpu_us:  # type: ignore[operator]
        return None
    return round(row[name].cpu_us[process], 1)  # type: ignore[index]


def report(results: dict[tuple[str, int], dict[str, Result]]) -> None:
    print()
    header = (
        f"{'':<24}{'req/s':>10}{'vs direct':>11}{'p50 ms':>10}{'+p50 ms':>10}{'p99 ms':>10}"
        f"{'gw us/req':>11}{'svc us/req':>11}"
    )
    for (route, connections), row in results.items():
        print(f"{route} route ({ROUTES[route]}), {connections} connection(s)")
        print(header)
        direct = row["direct"]
        for name, result in row.items():
            ratio = result.rps / direct.rps if direct.rps else 0.0
            cpu = result.cpu_us or {}
            gateway_us = f"{cpu['gateway']:.0f}" if "gateway" in cpu else "-"
            service_us = f"{cpu['service']:.0f}" if "service" in cpu else "-"
            print(
                f"  {name:<22}{result.rps:>10.0f}{ratio:>10.0%} {result.p50_ms:>10.3f}"
                f"{result.p50_ms - direct.p50_ms:>+10.3f}{result.p99_ms:>10.3f}"
                f"{gateway_us:>11}{service_us:>11}"
            )
        print()
    after, before = "gateway (Bearer)", "before (Bearer)"
    figures: dict[str, object] = {
        "cheap_ratio_50": _ratio(results[("cheap", 50)], after),
        "db_ratio_50": _ratio(results[("database", 50)], after),
        "added_p50_ms_1": _added(results[("cheap", 1)], after),
        "db_added_p50_ms_1": _added(results[("database", 1)], after),
        "api_key_cheap_ratio_50": _ratio(results[("cheap", 50)], "gateway (X-API-Key)"),
        "nginx_cheap_ratio_50": _ratio(results[("cheap", 50)], "nginx"),
        "nginx_db_ratio_50": _ratio(results[("database", 50)], "nginx"),
        "before_cheap_ratio_50": _ratio(results[("cheap", 50)], before),
        "before_db_ratio_50": _ratio(results[("database", 50)], before),
        "before_added_p50_ms_1": _added(results[("cheap", 1)], before),
        "gateway_cpu_us_50": _cpu(results[("cheap", 50)], after, "gateway"),
        "before_gateway_cpu_us_50": _cpu(results[("cheap", 50)], before, "gateway"),
        "service_cpu_us_50": _cpu(results[("cheap", 50)], "direct", "service"),
        "direct_cheap_rps_50": round(results[("cheap", 50)]["direct"].rps),
        "direct_db_rps_50": round(results[("database", 50)]["direct"].rps),
    }
    targets = (
        ("cheap route, 50 connections, >= 50% of direct", "cheap_ratio_50", 0.50, True),
        ("database route, 50 connections, >= 85% of direct", "db_ratio_50", 0.85, True),
        ("cheap route, 1 connection, < +0.5 ms p50", "added_p50_ms_1", 0.5, False),
    )
    print("before -> after (the same run, the same service, Redis and PostgreSQL):")
    for label, key, goal, at_least in targets:
        value = figures[key]
        was = figures[f"before_{key}"]
        assert isinstance(value, float)
        met = value >= goal if at_least else value < goal
        shown = f"{value:.0%}" if at_least else f"{value:+.3f} ms"
        old = (
            "n/a"
            if not isinstance(was, float)
            else (f"{was:.0%}" if at_least else f"{was:+.3f} ms")
        )
        print(f"  {label}: {old} -> {shown} ({'met' if met else 'NOT met'})")
    gateway_us, was_us = figures["gateway_cpu_us_50"], figures["before_gateway_cpu_us_50"]
    print(
        f"  gateway CPU per request (cheap route, 50 connections): "
        f"{was_us if was_us is not None else 'n/a'} -> {gateway_us} us"
        f" (the service's own: {figures['service_cpu_us_50']} us)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    raise SystemExit(main())
