"""Auth benchmark: logins/s at production vs test argon2 parameters, and what
introspection costs an authenticated request (first use vs cached, through the
gateway) next to the raw ``/internal/introspect`` call.

Bounded and local: throw-away PostgreSQL/Redis/moto on loopback (``deploy.backing``),
the platform started by ``deploy.platform`` (the code ``make up`` uses), fixed
request counts. The gateway's rate limits are switched off, so the figures measure
auth and introspection, not the limiter. Run: ``python -m bench.auth``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.backing import start_backing
from deploy.platform import RunningPlatform, start_platform
from services.auth.security.passwords import PasswordHasher
from services.auth.settings import AuthSettings

LOGINS = {"production": 24, "test": 200}
LOGIN_CONCURRENCY = 8
UNCACHED_KEYS = 60
CACHED_REQUESTS = 300
RAW_INTROSPECTIONS = 300
HASH_SAMPLES = {"production": 8, "test": 100}
PASSWORD = "Bench_Pass_123!"

PRODUCTION = AuthSettings.model_fields
PARAMS = {
    "production": {
        "time_cost": int(PRODUCTION["argon2_time_cost"].default),
        "memory_cost": int(PRODUCTION["argon2_memory_cost"].default),
        "parallelism": int(PRODUCTION["argon2_parallelism"].default),
    },
    # What the test suite runs with (tests/conftest.py platform_env).
    "test": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1},
}


@dataclass
class Timings:
    samples: list[float]
    wall: float = 0.0

    def ms(self, q: float) -> float:
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def mean_ms(self) -> float:
        return 1000 * statistics.fmean(self.samples)

    @property
    def rate(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0


async def timed(calls: list[Callable[[], Awaitable[None]]], concurrency: int) -> Timings:
    samples: list[float] = []
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            call = queue.pop()
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Timings(samples, time.perf_counter() - started)


def label(params: dict[str, int]) -> str:
    return f"t={params['time_cost']} m={params['memory_cost'] // 1024}MiB p={params['parallelism']}"


async def argon2_verify(params: dict[str, int], samples: int) -> Timings:
    hasher = PasswordHasher(**params)
    stored = await hasher.hash(PASSWORD)

    async def verify() -> None:
        assert await hasher.verify(stored, PASSWORD)

    return await timed([verify] * samples, 1)


def ip() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.7"}


async def must(response: Awaitable[httpx.Response], status: int = 200) -> httpx.Response:
    answer = await response
    if answer.status_code != status:
        raise RuntimeError(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return answer


async def new_user(gw: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    name = f"bench{secrets.token_hex(5)}"
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    await must(gw.post("/auth/register", json=body, headers=ip()), 201)
    login = await must(
        gw.post("/auth/login", json={"username": name, "password": PASSWORD}, headers=ip())
    )
    return name, {"Authorization": f"Bearer {login.json()['access_token']}"}


async def logins(platform: RunningPlatform, count: int) -> Timings:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as gw:
        # One account per worker: attempts on one account are serialised by design.
        names = [(await new_user(gw))[0] for _ in range(LOGIN_CONCURRENCY)]

        def login(name: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                body = {"username": name, "password": PASSWORD}
                await must(gw.post("/auth/login", json=body, headers=ip()))

            return call

        await login(names[0])()  # warm-up
        calls = [login(names[i % len(names)]) for i in range(count)]
        return await timed(calls, LOGIN_CONCURRENCY)


async def introspection(platform: RunningPlatform) -> dict[str, Timings]:
    async with (
        httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as gw,
        httpx.AsyncClient(base_url=platform.service_urls["auth"], timeout=60) as auth,
    ):
        _, bearer = await new_user(gw)
        keys = []
        for i in range(UNCACHED_KEYS + 1):
            created = await must(
                gw.post(
                    "/auth/api-keys/generate",
                    json={"name": f"k{i}", "permissions": ["read"]},
                    headers=bearer,
                )
            )
            keys.append(created.json()["api_key"])
        cached_key, fresh_keys = keys[0], keys[1:]
        route = "/auth/api-keys"

        def get(headers: dict[str, str]) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                await must(gw.get(route, headers=headers))

            return call

        await get({"X-API-Key": cached_key})()  # now cached in the gateway
        results = {
            "X-API-Key, first use (introspected)": await timed(
                [get({"X-API-Key": k}) for k in fresh_keys], 1
            ),
            "X-API-Key, cached in the gateway": await timed(
                [get({"X-API-Key": cached_key})] * CACHED_REQUESTS, 1
            ),
            "Bearer JWT (verified, no introspection)": await timed(
                [get(bearer)] * CACHED_REQUESTS, 1
            ),
        }
        internal = {"X-Internal-Token": platform.env["QUARRY_INTERNAL_TOKEN"]}

        async def raw() -> None:
            answer = await must(
                auth.post(
                    "/internal/introspect",
                    json={"kind": "api_key", "credential": cached_key},
                    headers=internal,
                )
            )
            assert answer.json()["active"] is True

        results["raw POST /internal/introspect (auth port)"] = await timed(
            [raw] * RAW_INTROSPECTIONS, 1
        )
        return results


def platform_env(params: dict[str, int]) -> dict[str, str]:
    return {
        "QUARRY_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "AUTH_ARGON2_TIME_COST": str(params["time_cost"]),
        "AUTH_ARGON2_MEMORY_COST": str(params["memory_cost"]),
        "AUTH_ARGON2_PARALLELISM": str(params["parallelism"]),
        "GATEWAY_RATE_LIMIT_ENABLED": "false",
        "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]',
    }


def run() -> None:
    cores = os.cpu_count() or 1
    print(f"Auth benchmark (loopback, {cores} CPU cores)")
    hashing = {
        name: asyncio.run(argon2_verify(p, HASH_SAMPLES[name])) for name, p in PARAMS.items()
    }
    login_runs: dict[str, Timings] = {}
    intro: dict[str, Timings] = {}
    with tempfile.TemporaryDirectory(prefix="quarry-bench-auth-") as tmp:
        data = Path(tmp)
        with start_backing(data / "backing", persistent=False) as backing:
            for name, params in PARAMS.items():
                # One data dir: the same secrets (key encryption) for both runs on one database.
                with start_platform(
                    data / "platform", backing, extra_env=platform_env(params)
                ) as platform:
                    login_runs[name] = asyncio.run(logins(platform, LOGINS[name]))
                    if name == "test":
                        intro = asyncio.run(introspection(platform))

    print()
    print(f"{'':34}{'production':>22}{'test':>22}")
    print(f"{'argon2id parameters':34}{label(PARAMS['production']):>22}{label(PARAMS['test']):>22}")
    row = "argon2 verify, one thread (ms)"
    print(f"{row:34}{hashing['production'].mean_ms:>22.1f}{hashing['test'].mean_ms:>22.1f}")
    row = f"logins/s via gateway (c={LOGIN_CONCURRENCY})"
    print(f"{row:34}{login_runs['production'].rate:>22.1f}{login_runs['test'].rate:>22.1f}")
    for q in (0.5, 0.95):
        row = f"login latency p{int(q * 100)} (ms)"
        print(f"{row:34}{login_runs['production'].ms(q):>22.1f}{login_runs['test'].ms(q):>22.1f}")
    print()
    print(f"{'authenticated GET /auth/api-keys':44}{'n':>6}{'mean':>9}{'p50':>9}{'p95':>9}  (ms)")
    for name, t in intro.items():
        print(f"{name:44}{len(t.samples):>6}{t.mean_ms:>9.2f}{t.ms(0.5):>9.2f}{t.ms(0.95):>9.2f}")


if __name__ == "__main__":
    run()
