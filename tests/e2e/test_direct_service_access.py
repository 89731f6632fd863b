"""The services' ports, reached around the gateway (issue 8 §4): public routes refuse
what lacks the gateway's proof (registrations, logins with forged forwarding headers,
the OpenAPI document), /health and /metrics stay open, /internal keeps its token."""

from __future__ import annotations

import httpx
import pytest

from deploy.platform import RunningPlatform
from deploy.topology import SERVICES
from shared.proof import proof_headers

REFUSAL = "This service answers only requests forwarded by the gateway"


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
async def test_a_service_port_answers_health_and_metrics_but_not_its_public_routes(
    platform: RunningPlatform, service: str
) -> None:
    internal = platform.env["QUARRY_INTERNAL_TOKEN"]
    async with httpx.AsyncClient(base_url=platform.service_urls[service]) as direct:
        assert (await direct.get("/health")).status_code == 200
        assert (await direct.get("/metrics")).status_code == 200
        document = await direct.get("/openapi.json")
        assert document.status_code == 403
        assert REFUSAL in document.text
        proven = await direct.get("/openapi.json", headers=proof_headers(internal))
        assert proven.status_code == 200
        assert proven.json()["openapi"].startswith("3.")


async def test_registrations_and_logins_around_the_gateway_are_refused(
    platform: RunningPlatform, unique: str
) -> None:
    async with httpx.AsyncClient(base_url=platform.service_urls["auth"]) as auth:
        for attempt in range(12):
            registered = await auth.post(
                "/auth/register",
                json={
                    "username": f"around{unique}{attempt}",
                    "email": f"around{unique}{attempt}@example.com",
                    "password": "Str0ng_Pass!",
                },
            )
            assert registered.status_code == 403, registered.text
        forged = await auth.post(
            "/auth/login",
            json={"username": platform.admin_username, "password": platform.admin_password},
            headers={"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"},
        )
        assert forged.status_code == 403
        assert "set-cookie" not in forged.headers
        # Internal routes keep their own guard, with or without the proof.
        assert (await auth.get("/internal/jwks")).status_code == 401
        jwks = await auth.get(
            "/internal/jwks", headers={"X-Internal-Token": platform.env["QUARRY_INTERNAL_TOKEN"]}
        )
        assert jwks.status_code == 200


async def test_the_same_registration_through_the_gateway_works(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    response = await gateway_client.post(
        "/auth/register",
        json={
            "username": f"through{unique}",
            "email": f"through{unique}@example.com",
            "password": "Str0ng_Pass!",
        },
    )
    assert response.status_code == 201, response.text
