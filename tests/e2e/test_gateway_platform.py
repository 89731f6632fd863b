"""The gateway in front of the real platform (auth, ingest, analysis, profile, the
worker, PostgreSQL, Redis, S3/SQS): health of every component, routing to every
service, credentials checked against the real auth, docs with no internet."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from deploy.platform import RunningPlatform
from shared.proof import proof_headers


async def test_api_health_is_green_for_every_component(gateway_client: httpx.AsyncClient) -> None:
    response = await gateway_client.get("/api/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    for name in (
        "auth",
        "ingest",
        "analysis",
        "profile",
        "postgresql",
        "redis",
        "s3",
        "sqs",
        "worker",
    ):
        assert body["components"][name]["status"] == "healthy", (name, body["components"][name])


async def test_monitoring_detailed_reports_every_service(
    gateway_client: httpx.AsyncClient,
) -> None:
    body = (await gateway_client.get("/monitoring/detailed")).json()
    assert body["status"] == "healthy", body
    assert set(body["components"]["services"]) == {"auth", "ingest", "analysis", "profile"}
    assert body["components"]["database"]["info"]["connection_healthy"] is True
    assert body["components"]["rate_limiter"]["redis_available"] is True


def _requests_counted(metrics: str, service: str, labels: tuple[str, ...]) -> float:
    """Requests the service's own metrics counted under these route labels."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith("quarry_http_requests_total{") or f'service="{service}"' not in line:
            continue
        if any(f'route="{label}"' in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _without_request_ids(body: object) -> object:
    if isinstance(body, dict):
        return {k: _without_request_ids(v) for k, v in body.items() if k != "request_id"}
    return body


UNKNOWN_TASK = "7d5cbbbe-5a44-4d4b-9d8e-3c1f4b0e2a61"
# (service, path, route template, the status the specs give it). The documented routes
# of services still being built answer what they must: an unknown task or export is a
# 404, whether the route is implemented yet or not.
ROUTED = [
    ("ingest", f"/api/status/{UNKNOWN_TASK}", "/api/status/{task_id}", 404),
    ("analysis", "/api/analysis/987654321", "/api/analysis/{export_id}", 404),
    ("profile", "/sessions", "/sessions", None),
    ("auth", "/api/profile", "/api/profile", 200),
]


@pytest.mark.parametrize(("service", "path", "template", "status"), ROUTED)
async def test_authenticated_requests_reach_each_service(
    gateway_client: httpx.AsyncClient,
    platform: RunningPlatform,
    service: str,
    path: str,
    template: str,
    status: int | None,
) -> None:
    """Through the gateway, each route gives exactly what its service gives the same
    caller directly (the gateway's proof and the bearer token the gateway would mint),
    and the service counted the one request."""
    assert platform.dev_api_key is not None
    internal = platform.env["QUARRY_INTERNAL_TOKEN"]
    labels = ("unmatched", template)
    async with httpx.AsyncClient(base_url=platform.service_urls[service]) as direct:
        before = _requests_counted((await direct.get("/metrics")).text, service, labels)
        through = await gateway_client.get(path, headers={"X-API-Key": platform.dev_api_key})
        # The service counts a request once its handler has finished (after the answer
        # was sent, its clean-up included): read until it shows (bounded).
        for _ in range(50):
            after = _requests_counted((await direct.get("/metrics")).text, service, labels)
            if after > before:
                break
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=platform.service_urls["auth"]) as auth:
            grant = await auth.post(
                "/internal/introspect",
                json={"kind": "api_key", "credential": platform.dev_api_key},
                headers={"X-Internal-Token": internal},
            )
        bearer = grant.json()["access_token"]
        same = await direct.get(
            path,
            headers={
                "Authorization": f"Bearer {bearer}",
                "X-Forwarded-For": gateway_client.headers["x-forwarded-for"],
                **proof_headers(internal),
            },
        )
    assert after == before + 1, (service, through.status_code, through.text)
    assert through.status_code == same.status_code, (through.text, same.text)
    assert _without_request_ids(through.json()) == _without_request_ids(same.json())
    if status is not None:
        assert through.status_code == status, through.text
    if service == "auth":
        assert through.json()["username"] == "developer"
    assert through.headers["x-request-id"]
    assert through.headers["x-ratelimit-limit"] == "100"


async def test_status_with_the_development_key(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    assert platform.dev_api_key is not None
    response = await gateway_client.get("/status", headers={"X-API-Key": platform.dev_api_key})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["caller"]["role"] == "service"
    assert body["database"]["connection_healthy"] is True
    anonymous = await gateway_client.get("/status")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "AUTHENTICATION_REQUIRED"


async def test_login_token_from_real_auth_is_verified_by_the_gateway(
    gateway_client: httpx.AsyncClient, platform: RunningPlatform
) -> None:
    login = await gateway_client.post(
        "/auth/login",
        json={"username": platform.admin_username, "password": platform.admin_password},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    response = await gateway_client.get("/status", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["caller"]["role"] == "admin"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = await gateway_client.get("/status", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401


async def test_docs_work_offline_and_list_the_platform(
    gateway_client: httpx.AsyncClient,
) -> None:
    docs = await gateway_client.get("/docs")
    assert docs.status_code == 200
    for url in re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", docs.text):
        assert url.startswith("/"), url
        assert (await gateway_client.get(url)).status_code == 200
    document = (await gateway_client.get("/openapi.json")).json()
    assert "/api/health" in document["paths"]
    assert "/auth/login" in document["paths"]
    assert not [p for p in document["paths"] if p.startswith(("/internal", "/webhooks"))]
    assert "/health" not in document["paths"]


async def test_unknown_and_internal_paths_are_404(gateway_client: httpx.AsyncClient) -> None:
    for path in ("/internal/jwks", "/health", "/nothing", "/api/nothing"):
        response = await gateway_client.get(path)
        assert response.status_code == 404, path
        assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_auth_rate_limit_answers_429_in_the_profile_dialect(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    statuses = []
    for attempt in range(11):
        response = await gateway_client.post(
            "/auth/login", json={"username": f"nobody{unique}{attempt}", "password": "wrong-pw"}
        )
        statuses.append(response.status_code)
        assert response.headers["x-ratelimit-limit"] == "10"
    assert statuses[:10] == [401] * 10, statuses
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "RATE_LIMIT_EXCEEDED"
    assert body["limit"] == 10
    assert body["window"] == 60
    assert body["message"] == f"Rate limit exceeded. Try again in {body['retry_after']} seconds"
    assert int(response.headers["retry-after"]) >= 1
