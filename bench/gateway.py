"""Gateway benchmark: an authenticated GET through the gateway vs the same GET sent
straight to the service, and through a bare nginx pass-through, in one run, at 1
and 50 connections, printed with the ratios.

What runs (all on loopback, all stopped at the end):

- a stand-in service built with the same app factory as every Quarry service
  (``shared.service_app.create_service_app``: request ids, metrics, error
  handling) whose ``GET /sessions`` verifies the Bearer token itself with
  ``shared.tokens.TokenVerifier``, as the real services do; it also publishes
  the JWKS and answers introspection, standing in for auth;
- the gateway as ``python -m gateway serve`` (uvloop, httptools) with
  authentication and rate limiting ON: every request is authenticated (Bearer
  verified, or ``X-API-Key`` introspected once and cached) and consumes a
  rate-limit hit in a real Redis (two Lua calls); the limit is raised so that it
  never refuses (``GATEWAY_RATE_LIMIT_API``);
- Debian's nginx as a non-daemon with a temporary config (``proxy_pass`` with
  upstream keep-alive), no authentication: the cost of a plain reverse proxy;
- ``wrk`` as the load generator (C, one thread: it leaves the cores to the servers).

Targets (issue "The spine"): at 50 connections the gateway keeps >= 40 % of the
direct requests/s; at 1 connection it adds < 1 ms to the median.

Run: ``python -m bench.gateway`` (``--seconds N`` per measurement, ``--rounds R``).
The machine is shared by whatever else runs on it: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, FastAPI, Request
from jwt.algorithms import OKPAlgorithm

from shared.identity import AuthMethod, Principal, Role
from shared.principal import require_principal
from shared.service_app import create_service_app
from shared.settings import CommonSettings
from shared.tokens import TokenVerifier

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BENCH_API_KEY = "pk_bench_" + "k" * 24
INTERNAL_TOKEN = "bench-internal-token-" + "x" * 16
PATH = "/sessions"  # a route the gateway table sends to the profile service


# --- the stand-in service (run as: python -m bench.gateway service --port N) -----------


def create_service() -> FastAPI:
    """The stand-in service app."""
    settings = CommonSettings(log_level="WARNING")
    key = Ed25519PrivateKey.generate()
    kid = uuid.uuid4().hex[:12]
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": kid, "use": "sig", "alg": "EdDSA"}]}

    async def local_jwks() -> dict[str, Any]:
        return jwks

    verifier = TokenVerifier(local_jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience)

    def mint() -> str:
        now = int(time.time())
        principal = Principal(
            user_id="bench-user",
            username="bench",
            role=Role.USER,
            client_id="bench-client",
            scopes=("*",),
            session_id="bench-session",
            auth_method=AuthMethod.API_KEY,
            token_id=uuid.uuid4().hex,
            expires_at=now + 3600,
        )
        claims = {
            **principal.to_claims(),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": now,
            "exp": now + 3600,
            "jti": principal.token_id,
            "typ": "access",
        }
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})

    router = APIRouter()

    @router.get("/internal/jwks")
    async def published_keys() -> dict[str, Any]:
        return jwks

    @router.post("/internal/introspect")
    async def introspect(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("credential") != BENCH_API_KEY:
            return {"active": False}
        return {
            "active": True,
            "access_token": mint(),
            "expires_in": 3600,
            "sid": "bench-session",
            "principal": {"user_id": "bench-user"},
        }

    @router.get("/bench/token")
    async def token() -> dict[str, str]:
        return {"token": mint()}

    @router.get(PATH)
    async def sessions(request: Request) -> dict[str, Any]:
        principal = await require_principal(request, verifier)
        return {
            "active_sessions": [
                {
                    "session_id": "session-1",
                    "username": principal.username,
                    "connected_at": "2025-01-06T12:00:00.000Z",
                    "status": "connected",
                    "comment_count": 45,
                }
            ],
            "total_active": 1,
        }

    return create_service_app(
        name="bench",
        title="Gateway benchmark stand-in service",
        settings=settings,
        lifespan=_no_lifespan,
        routers=[router],
    )


@asynccontextmanager
async def _no_lifespan(_: Any) -> AsyncIterator[None]:
    yield


def serve_service(port: int) -> None:
    import uvicorn

    uvicorn.run(
        "bench.gateway:create_service",
        factory=True,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


# --- processes ------------------------------------------------------------------------


def free_port() -> int:
    from deploy.ports import free_port as pick

    return pick(HOST)


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
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
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
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
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?timeout (\d+)"):
        found = re.search(pattern, out)
        if found:
            errors += int(found.group(1))
    return Result(rps, p50, p99, errors)


def median(results: list[Result]) -> Result:
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
    )


def check(url: str, headers: dict[str, str]) -> None:
    response = httpx.get(url, headers=headers, timeout=5)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway")
    sub = parser.add_subparsers(dest="command")
    service = sub.add_parser("service", help="(internal) serve the stand-in service")
    service.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=int, default=6, help="duration of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    args = parser.parse_args(argv)
    if args.command == "service":
        serve_service(args.port)
        return 0
    return bench(args.seconds, args.rounds)


def bench(seconds: int, rounds: int) -> int:
    from deploy.redis_server import run_redis

    wrk = ensure_tool("wrk", "wrk")
    nginx = ensure_tool("nginx", "nginx-light")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="quarry-bench-")))
        redis_url = stack.enter_context(
            run_redis(work / "redis", log_path=work / "redis.log", durable=False)
        )
        service_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
        service = stack.enter_context(
            running(
                [sys.executable, "-m", "bench.gateway", "service", "--port", str(service_port)],
                work / "service.log",
            )
        )
        service_url = f"http://{HOST}:{service_port}"
        wait_http(f"{service_url}/health", service, work / "service.log")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "QUARRY_ENV": "test",
            "QUARRY_PORT": str(gateway_port),
            "REDIS_URL": redis_url,
            "QUARRY_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "AUTH_INTERNAL_URL": service_url,
            "INGEST_INTERNAL_URL": service_url,
            "ANALYSIS_INTERNAL_URL": service_url,
            "PROFILE_INTERNAL_URL": service_url,
            "LOG_LEVEL": "WARNING",
            # Limits stay ON (every request costs its Redis hits) but never refuse.
            "GATEWAY_RATE_LIMIT_API": "1000000000/60",
        }
        gateway = stack.enter_context(
            running([sys.executable, "-m", "gateway", "serve"], work / "gateway.log", env)
        )
        gateway_url = f"http://{HOST}:{gateway_port}"
        wait_http(f"{gateway_url}/healthcheck", gateway, work / "gateway.log")
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
        targets = {
            "direct": (f"{service_url}{PATH}", bearer),
            "gateway (Bearer)": (f"{gateway_url}{PATH}", bearer),
            "gateway (X-API-Key)": (f"{gateway_url}{PATH}", api_key),
            "nginx": (f"{nginx_url}{PATH}", bearer),
        }
        for url, headers in targets.values():
            check(url, headers)
        limited = httpx.get(f"{gateway_url}{PATH}", headers=bearer)
        assert "x-ratelimit-remaining" in limited.headers, "rate limiting is not on"

        print(
            f"GET {PATH}, authenticated; {rounds} rounds x {seconds}s per measurement "
            f"(targets interleaved, medians reported); wrk -t1; {os.cpu_count()} cores"
        )
        runs: dict[int, dict[str, list[Result]]] = {1: {}, 50: {}}
        for round_number in range(1, rounds + 1):
            for connections in (1, 50):
                for name, (url, headers) in targets.items():
                    run_wrk(wrk, url, headers, connections, 1)  # warm-up
                    result = run_wrk(wrk, url, headers, connections, seconds)
                    runs[connections].setdefault(name, []).append(result)
                    print(
                        f"  round {round_number} c={connections:<3} {name:<20}"
                        f"{result.rps:>9.0f} req/s  p50 {result.p50_ms:7.3f} ms"
                        f"  p99 {result.p99_ms:7.3f} ms"
                        + (f"  errors {result.errors}" if result.errors else ""),
                        flush=True,
                    )
        results = {
            connections: {name: median(rows) for name, rows in row.items()}
            for connections, row in runs.items()
        }
        report(results)
    return 0


def report(results: dict[int, dict[str, Result]]) -> None:
    print()
    header = f"{'':<24}{'req/s':>10}{'vs direct':>11}{'p50 ms':>10}{'p99 ms':>10}"
    for connections, row in results.items():
        direct = row["direct"]
        print(f"{connections} connection{'s' if connections > 1 else ''}")
        print(header)
        for name, result in row.items():
            ratio = result.rps / direct.rps if direct.rps else 0.0
            print(
                f"  {name:<22}{result.rps:>10.0f}{ratio:>10.0%} "
                f"{result.p50_ms:>10.3f}{result.p99_ms:>10.3f}"
            )
        print()
    keep = results[50]["gateway (Bearer)"].rps / results[50]["direct"].rps
    added = results[1]["gateway (Bearer)"].p50_ms - results[1]["direct"].p50_ms
    print(
        f"target 1: gateway keeps >= 40% of direct req/s at 50 connections: {keep:.0%} "
        f"({'met' if keep >= 0.40 else 'NOT met'})"
    )
    print(
        f"target 2: gateway adds < 1 ms to p50 at 1 connection: {added:+.3f} ms "
        f"({'met' if added < 1.0 else 'NOT met'})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
