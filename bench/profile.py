"""Profile benchmark: cached ``GET /profile/{username}`` through the gateway vs direct to
the service, and WebSocket fan-out of live comments to 200 subscribers across two
profile replicas through the gateway, beside a bare one-process Starlette broadcast
ceiling, all in one run.

What runs (loopback only, all stopped at the end):

- PostgreSQL, Redis and moto (``deploy.backing``) and the whole platform
  (``deploy.platform``, as ``make up``): QUARRY_ENV=test, so the live source is the
  replay source (``replay_bench`` plays a generated stream at ``--rate`` comments/s);
  rate limits raised so they never refuse (still counted in Redis on every request);
- a second profile replica and a second gateway in front of it (same database, same
  Redis namespace: one cluster), so subscribers sit on two replicas;
- ``wrk`` for the HTTP part (one thread, ``--connections``); an asyncio client
  (websockets) holding the 200 WebSockets, half through each gateway;
- the ceiling: a bare Starlette app in one process that broadcasts the same messages
  at the same rate to 200 local WebSockets (no gateway, no Redis, no database).

Latency of a delivery: the client's receive time minus the comment's own ``timestamp``
(set when the replay source produced it, millisecond precision), so it covers batching,
the database write, Redis pub/sub, the replica's fan-out, the gateway relay.

Targets (issue 13): cached p50 < 5 ms through the gateway; >= 20,000 deliveries/s to
200 subscribers across two replicas with p99 < 50 ms.

Run: ``python -m bench.profile`` (``--seconds``, ``--rate``, ``--subscribers``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.gateway import ensure_tool, run_wrk, running, wait_http

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


# --- CPU time per request or delivery, per process ---------------------------------------
# Latency and throughput on a shared 2-core machine move with everybody else's load; the
# CPU time each process spends per request or per delivery moves much less, and says
# where the time goes (which process, and how that changes with a fix).


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}

    def per_unit_us(self, units: float) -> dict[str, float]:
        """CPU microseconds per unit (request, delivery) of each process group
        (``profile-1`` and ``profile-2`` are summed as ``profile``)."""
        groups: dict[str, float] = {}
        for name, used in self.used.items():
            group = name.rsplit("-", 1)[0]
            groups[group] = groups.get(group, 0.0) + used
        if not units:
            return {g: float("nan") for g in groups}
        return {g: round(used * 1e6 / units, 1) for g, used in groups.items()}

    def line(self, units: float, what: str) -> str:
        parts = [f"{g} {us:.0f}" for g, us in self.per_unit_us(units).items()]
        return f"           CPU per {what}, us: " + ", ".join(parts)


# --- the ceiling: a bare Starlette broadcast (python -m bench.profile ceiling --port N) ---


def serve_ceiling(port: int, rate: float) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    clients: set[WebSocket] = set()

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except Exception:  # noqa: S110 - the client went away
            pass
        finally:
            clients.discard(websocket)

    async def broadcast() -> None:
        interval = 1.0 / rate
        started = time.monotonic()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, started + n * interval - time.monotonic()))
            now = datetime.now().astimezone().isoformat(timespec="milliseconds")
            text = json.dumps({"type": "comment", "data": {"comment": f"c{n}", "timestamp": now}})
            for client in list(clients):
                try:
                    await client.send_text(text)
                except Exception:
                    clients.discard(client)

    async def lifespan(_: Any) -> Any:
        task = asyncio.create_task(broadcast())
        yield
        task.cancel()

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)
    # The same WebSocket settings as the gateway in front of the replicas (no
    # permessage-deflate: see GatewaySettings.websocket_per_message_deflate).
    uvicorn.run(
        app, host=HOST, port=port, loop="uvloop", log_level="warning", ws_per_message_deflate=False
    )


# --- WebSocket subscribers ----------------------------------------------------------------


async def subscribe(
    urls: list[str],
    seconds: float,
    warmup: float,
    headers: dict[str, str],
    meter: CpuMeter | None = None,
    when_open: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Hold one socket per URL; once every socket is open, count comments and their
    latency for ``seconds`` after ``warmup``. Handshakes go 20 at a time (200 at once
    under load timed out), and the clock starts when the last one is open; then
    ``when_open`` runs (the session's ``/connect``: no comment flows while the client
    is still shaking hands, which under load made handshakes time out)."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    counted = 0
    handshakes = asyncio.Semaphore(20)
    opened = 0
    all_open = asyncio.Event()
    window: dict[str, float] = {}
    closed_early: list[str] = []  # sockets the server (or a keepalive timeout) closed

    async def one(url: str) -> None:
        nonlocal counted, opened
        async with handshakes:
            ws = await connect(url, additional_headers=headers, max_queue=None, open_timeout=60)
        opened += 1
        if opened == len(urls):
            if when_open is not None:
                await asyncio.to_thread(when_open)
            window["start"] = time.time() + warmup
            window["stop"] = window["start"] + seconds
            if meter is not None:
                loop = asyncio.get_running_loop()
                loop.call_later(warmup, meter.start)
                loop.call_later(warmup + seconds, meter.stop)
            all_open.set()
        async with ws:
            reader = asyncio.ensure_future(read(ws))
            await all_open.wait()
            # One deadline for the whole read loop (a wait_for per message would be a task
            # per message in this client, which shares the CPU with what it measures).
            await asyncio.wait({reader}, timeout=window["stop"] - time.time())
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                closed_early.append(repr(reader.exception())[:200])
            reader.cancel()

    async def read(ws: Any) -> None:
        nonlocal counted
        async for raw in ws:
            now = time.time()
            start_at = window.get("start")
            if start_at is None or now < start_at or '"comment"' not in raw:
                continue
            if now > window["stop"]:
                return
            message = orjson.loads(raw)
            if message.get("type") != "comment":
                continue
            stamp = message["data"]["timestamp"].replace("Z", "+00:00")
            latencies.append((now - datetime.fromisoformat(stamp).timestamp()) * 1000)
            counted += 1

    await asyncio.gather(*(one(u) for u in urls))
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(len(latencies) * p))]
            if latencies
            else float("nan")
        )

    return {
        "deliveries": counted,
        "deliveries_per_s": counted / seconds,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "closed_early": len(closed_early),
        "first_close": closed_early[0] if closed_early else None,
    }


def run_subscribers(
    urls: list[str],
    seconds: float,
    warmup: float,
    headers: dict[str, str],
    meter: CpuMeter | None = None,
    when_open: Callable[[], None] | None = None,
) -> dict[str, Any]:
    try:
        import uvloop

        return uvloop.run(subscribe(urls, seconds, warmup, headers, meter, when_open))
    except ImportError:
        return asyncio.run(subscribe(urls, seconds, warmup, headers, meter, when_open))


def print_fanout(label: str, result: dict[str, Any], meter: CpuMeter, note: str) -> None:
    print(
        f"  {label:<8} {result['deliveries_per_s']:>9.0f} deliveries/s"
        f"  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  ({note})",
        flush=True,
    )
    print(meter.line(result["deliveries"], "delivery"), flush=True)


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the ceiling server exited:\n{log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the ceiling server did not come up")


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    sub = parser.add_subparsers(dest="command")
    ceiling = sub.add_parser("ceiling", help="(internal) the bare Starlette broadcast")
    ceiling.add_argument("--port", type=int, required=True)
    ceiling.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="each measurement")
    parser.add_argument("--rate", type=float, default=100.0, help="comments per second")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--connections", type=int, default=10, help="wrk connections")
    parser.add_argument(
        "--direct-fanout",
        action="store_true",
        help="also the fan-out with the subscribers on the replicas directly (no gateway)",
    )
    args = parser.parse_args(argv)
    if args.command == "ceiling":
        serve_ceiling(args.port, args.rate)
        return 0
    return bench(args.seconds, args.rate, args.subscribers, args.connections, args.direct_fanout)


def bench(
    seconds: float, rate: float, subscribers: int, connections: int, direct_fanout: bool = False
) -> int:
    from deploy.backing import start_backing
    from deploy.platform import start_platform
    from deploy.ports import free_port
    from shared.proof import proof_headers

    wrk = ensure_tool("wrk", "wrk")
    api_key = "bench-dev-key-" + "k" * 24
    unlimited = "1000000000/60"
    extra = {
        "QUARRY_ENV": "test",
        "API_KEY": api_key,
        "LOG_LEVEL": "WARNING",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": "admin@example.com",
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": "Bench-Admin-Pass-123",
        "PROFILE_LIVE_REPLAY_RATE": str(rate),
        # The service's own queue (1000) and send timeout: a subscriber that falls that
        # far behind is dropped (1008), and the bench counts it (ws_closed_early).
        "PROFILE_WS_REPLAY_COUNT": "0",
        **{f"GATEWAY_RATE_LIMIT_{c}": unlimited for c in ("API", "WEBSOCKET", "CONNECT", "STRICT")},
        # 200 subscribers from one loopback address stand for 200 clients: no per-address cap.
        "GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "0",
    }
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        work = Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="quarry-bench-profile-"))
        )
        backing = stack.enter_context(start_backing(work / "backing", persistent=False))
        platform = stack.enter_context(start_platform(work / "platform", backing, extra_env=extra))
        env = platform.env
        print(f"platform up: {platform.gateway_url}", flush=True)
        # A second profile replica (same database and namespace) and a gateway before it.
        profile_port, gateway_port = free_port(HOST), free_port(HOST)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILE_", "GATEWAY_"))}
        common = {**base, **{k: v for k, v in env.items()}, "PYTHONUNBUFFERED": "1"}
        replica2 = stack.enter_context(
            running(
                [sys.executable, "-m", "services.profile", "serve"],
                work / "profile-2.log",
                {**common, "PROFILE_PORT": str(profile_port), "PROFILE_HOST": HOST},
            )
        )
        replica2_url = f"http://{HOST}:{profile_port}"
        wait_http(f"{replica2_url}/health", replica2, work / "profile-2.log", timeout=60)
        gateway2 = stack.enter_context(
            running(
                [sys.executable, "-m", "gateway", "serve"],
                work / "gateway-2.log",
                {**common, "QUARRY_PORT": str(gateway_port), "PROFILE_INTERNAL_URL": replica2_url},
            )
        )
        gateway2_url = f"http://{HOST}:{gateway_port}"
        wait_http(f"{gateway2_url}/healthcheck", gateway2, work / "gateway-2.log", timeout=60)

        key = {"X-API-Key": api_key}
        login = httpx.post(
            f"{platform.gateway_url}/auth/login",
            json={"username": "admin", "password": extra["AUTH_BOOTSTRAP_ADMIN_PASSWORD"]},
            timeout=30,
        )
        token = login.json()["access_token"]
        direct = {"Authorization": f"Bearer {token}", **proof_headers(env["QUARRY_INTERNAL_TOKEN"])}
        profile_url = platform.service_urls["profile"]

        # --- cached GET /profile/{username} ---
        path = "/profile/bench_user"
        first = httpx.get(f"{platform.gateway_url}{path}", headers=key, timeout=30)
        assert first.status_code == 200, first.text
        assert httpx.get(f"{profile_url}{path}", headers=direct).status_code == 200
        print(
            f"\ncached GET {path} ({len(first.content)} bytes), "
            f"wrk -t1 -c{connections}, {seconds:.0f}s"
        )
        http: dict[str, Any] = {}
        pids = {
            "profile-1": platform.processes["profile"].pid,
            "profile-2": replica2.pid,
            "gateway-1": platform.processes["gateway"].pid,
            "gateway-2": gateway2.pid,
        }
        cpu_per_request: dict[str, dict[str, float]] = {}
        for name, url, headers in (
            ("direct", f"{profile_url}{path}", direct),
            ("gateway", f"{platform.gateway_url}{path}", key),
        ):
            run_wrk(wrk, url, headers, connections, 1)  # warm-up
            meter = CpuMeter({"profile": pids["profile-1"], "gateway": pids["gateway-1"]})
            meter.start()
            r = run_wrk(wrk, url, headers, connections, int(seconds))
            meter.stop()
            http[name] = r
            requests = r.rps * int(seconds)
            cpu_per_request[name] = meter.per_unit_us(requests)
            print(
                f"  {name:<8} {r.rps:>9.0f} req/s  p50 {r.p50_ms:7.3f} ms  p99 {r.p99_ms:7.3f} ms"
                + (f"  errors {r.errors}" if r.errors else ""),
                flush=True,
            )
            print(meter.line(requests, "request"), flush=True)
        results.update(
            cached_rps_direct=round(http["direct"].rps),
            cached_p50_ms_direct=http["direct"].p50_ms,
            cached_p99_ms_direct=http["direct"].p99_ms,
            cached_rps_gateway=round(http["gateway"].rps),
            cached_p50_ms_gateway=http["gateway"].p50_ms,
            cached_p99_ms_gateway=http["gateway"].p99_ms,
        )

        # --- WebSocket fan-out across two replicas, through the gateways ---
        session = "bench-fanout"

        def connect_session(headers: dict[str, str]) -> Callable[[], None]:
            def connect() -> None:
                answer = httpx.post(
                    f"{platform.gateway_url}/connect",
                    headers=headers,
                    json={"session_id": session, "username": "replay_bench"},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text

            return connect

        ws_urls = []
        for i in range(subscribers):
            gateway = platform.gateway_url if i % 2 == 0 else gateway2_url
            ws_urls.append(f"{gateway.replace('http', 'ws', 1)}/ws/comments/{session}?replay=0")
        print(
            f"\nfan-out: {rate:.0f} comments/s x {subscribers} subscribers, 2 replicas, "
            f"through 2 gateways, {seconds:.0f}s",
            flush=True,
        )
        meter = CpuMeter({**pids, "client": os.getpid()})
        fan = run_subscribers(ws_urls, seconds, 3.0, key, meter, connect_session(key))
        print(
            f"  quarry   {fan['deliveries_per_s']:>9.0f} deliveries/s"
            f"  p50 {fan['p50_ms']:6.1f} ms"
            f"  p99 {fan['p99_ms']:6.1f} ms  max {fan['max_ms']:6.1f} ms",
            flush=True,
        )
        if fan["closed_early"]:
            print(f"  {fan['closed_early']} sockets closed early: {fan['first_close']}")
        print(meter.line(fan["deliveries"], "delivery"), flush=True)
        cpu_per_delivery = meter.per_unit_us(fan["deliveries"])
        httpx.post(f"{platform.gateway_url}/disconnect", headers=key, json={"session_id": session})

        if direct_fanout:
            # The same fan-out with the subscribers on the replicas themselves: what the
            # gateway's relay adds. The session is the token's tenant's (the replicas
            # take the Bearer token and the gateway proof, as the gateway sends them).
            bearer = {"Authorization": f"Bearer {token}"}
            replicas = [profile_url, replica2_url]
            direct_urls = [
                f"{replicas[i % 2].replace('http', 'ws', 1)}/ws/comments/{session}?replay=0"
                for i in range(subscribers)
            ]
            direct_meter = CpuMeter({**pids, "client": os.getpid()})
            plain = run_subscribers(
                direct_urls, seconds, 3.0, direct, direct_meter, connect_session(bearer)
            )
            print_fanout("direct", plain, direct_meter, "subscribers on the replicas, no gateway")
            results.update(
                ws_direct_deliveries_per_s=round(plain["deliveries_per_s"]),
                ws_direct_p99_ms=round(plain["p99_ms"], 2),
            )
            httpx.post(
                f"{platform.gateway_url}/disconnect", headers=bearer, json={"session_id": session}
            )

        # --- the ceiling ---
        ceiling_port = free_port(HOST)
        ceiling = stack.enter_context(
            running(
                [
                    sys.executable,
                    "-m",
                    "bench.profile",
                    "ceiling",
                    "--port",
                    str(ceiling_port),
                    "--rate",
                    str(rate),
                ],
                work / "ceiling.log",
            )
        )
        _wait_port(ceiling_port, ceiling, work / "ceiling.log")
        ceiling_meter = CpuMeter({"server": ceiling.pid, "client": os.getpid()})
        bare = run_subscribers(
            [f"ws://{HOST}:{ceiling_port}/ws"] * subscribers, seconds, 2.0, {}, ceiling_meter
        )
        print_fanout("ceiling", bare, ceiling_meter, "bare Starlette, one process, no Redis")
        results.update(
            ws_deliveries_per_s=round(fan["deliveries_per_s"]),
            ws_p50_ms=round(fan["p50_ms"], 2),
            ws_p99_ms=round(fan["p99_ms"], 2),
            ws_offered_per_s=round(rate * subscribers),
            ws_closed_early=fan["closed_early"],
            ws_ceiling_deliveries_per_s=round(bare["deliveries_per_s"]),
            ws_ceiling_p99_ms=round(bare["p99_ms"], 2),
            subscribers=subscribers,
            replicas=2,
            cpu_us_per_request=cpu_per_request,
            cpu_us_per_delivery=cpu_per_delivery,
            ceiling_cpu_us_per_delivery=ceiling_meter.per_unit_us(bare["deliveries"]),
        )
    print()
    p50 = results["cached_p50_ms_gateway"]
    print(
        f"target: cached p50 through the gateway < 5 ms: {p50:.3f} ms "
        f"({'met' if p50 < 5 else 'NOT met'})"
    )
    rate_met = "met" if results["ws_deliveries_per_s"] >= 20_000 else "NOT met"
    p99_met = "met" if results["ws_p99_ms"] < 50 else "NOT met"
    print(
        f"target: >= 20,000 deliveries/s: {results['ws_deliveries_per_s']} ({rate_met}); "
        f"p99 < 50 ms: {results['ws_p99_ms']} ms ({p99_met})"
    )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
