"""The process table and how variables are handed to processes."""

from __future__ import annotations

import pytest

from deploy.backing import BackingServices
from deploy.platform import check_modules, process_env
from deploy.processes import StartupError
from deploy.topology import PROCESSES, ProcessSpec, Role, is_platform_variable, receives


def spec(name: str) -> ProcessSpec:
    return next(p for p in PROCESSES if p.name == name)


def test_the_design_table_of_processes() -> None:
    commands = {p.name: " ".join(p.argv) for p in PROCESSES if p.role is not Role.MIGRATE}
    assert commands == {
        "gateway": "python -m gateway serve",
        "auth": "python -m services.auth serve",
        "ingest": "python -m services.ingest serve",
        "analysis": "python -m services.analysis serve",
        "profile": "python -m services.profile serve",
        "worker": "python -m services.ingest.worker",
    }
    migrations = [p.argv for p in PROCESSES if p.role is Role.MIGRATE]
    assert len(migrations) == 4
    assert all(argv[-1] == "migrate" for argv in migrations)


def test_extra_variables_go_where_their_prefix_says() -> None:
    assert receives(spec("auth"), "AUTH_ARGON2_TIME_COST")
    assert not receives(spec("ingest"), "AUTH_ARGON2_TIME_COST")
    assert receives(spec("gateway"), "GATEWAY_TRUSTED_PROXIES")
    assert not receives(spec("auth"), "GATEWAY_TRUSTED_PROXIES")
    assert receives(spec("worker"), "INGEST_MAX_RECEIVE_COUNT")
    assert receives(spec("profile"), "LOG_LEVEL")  # not the platform's: everyone's
    assert not receives(spec("worker"), "DATABASE_URL")
    assert not receives(spec("gateway"), "API_KEY")
    assert receives(spec("auth"), "API_KEY")


def test_the_launcher_environment_does_not_leak_platform_variables() -> None:
    assert is_platform_variable("DATABASE_URL")
    assert is_platform_variable("AUTH_DATABASE_URL")
    assert is_platform_variable("QUARRY_INTERNAL_TOKEN")
    assert not is_platform_variable("PATH")
    assert not is_platform_variable("QUARRY_DATA_DIR")


def test_a_missing_value_is_refused() -> None:
    backing = BackingServices("postgresql://x", "redis://x", "http://s3", "http://sqs")
    with pytest.raises(StartupError, match="QUARRY_INTERNAL_TOKEN"):
        process_env(spec("worker"), backing.env() | {"QUARRY_ENV": "test"}, {})


def test_a_module_not_written_yet_is_named() -> None:
    ghost = ProcessSpec(
        name="ghost",
        module="services.ghost",
        args=("serve",),
        role=Role.SERVICE,
        env_names=frozenset(),
        prefixes=("GHOST_",),
    )
    with pytest.raises(StartupError, match=r"ghost \(services/ghost/__main__.py\)"):
        check_modules([*PROCESSES, ghost])
    check_modules()  # every real process exists
