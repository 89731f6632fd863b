"""Every process of the platform: its command and the names of the environment
variables it is given. The launcher (``deploy.platform``) starts exactly these,
and ``compose.yaml`` is checked against them (``tests/deploy/test_compose.py``).

The table of docs/DESIGN.md, as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Service:
    """One HTTP service under ``services/``."""

    name: str
    default_port: int

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    @property
    def prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def port_variable(self) -> str:
        return f"{self.prefix}PORT"

    @property
    def host_variable(self) -> str:
        return f"{self.prefix}HOST"

    @property
    def internal_url_variable(self) -> str:
        return f"{self.prefix}INTERNAL_URL"


SERVICES = (
    Service("auth", 8101),
    Service("ingest", 8102),
    Service("analysis", 8103),
    Service("profile", 8104),
)
GATEWAY_PORT_VARIABLE = "QUARRY_PORT"
GATEWAY_HOST_VARIABLE = "GATEWAY_HOST"
GATEWAY_DEFAULT_PORT = 8000
GATEWAY_PREFIX = "GATEWAY_"

INTERNAL_URLS = tuple(s.internal_url_variable for s in SERVICES)
AWS = (
    "S3_ENDPOINT_URL",
    "SQS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
# Every process: where Redis and the services are, and the token of /internal calls.
BASE = ("QUARRY_ENV", "REDIS_URL", "QUARRY_INTERNAL_TOKEN", *INTERNAL_URLS)
# Auth's own: the Profile spec's development key, key encryption, the first admin.
DEV_API_KEY = "API_KEY"
ADMIN_USERNAME = "AUTH_BOOTSTRAP_ADMIN_USERNAME"
ADMIN_EMAIL = "AUTH_BOOTSTRAP_ADMIN_EMAIL"
ADMIN_PASSWORD = "AUTH_BOOTSTRAP_ADMIN_PASSWORD"
AUTH_ONLY = (DEV_API_KEY, "AUTH_KEY_ENCRYPTION_SECRET", ADMIN_USERNAME, ADMIN_EMAIL, ADMIN_PASSWORD)


class Role(StrEnum):
    MIGRATE = "migrate"  # runs to completion before its service starts
    SERVICE = "service"  # HTTP, ready when GET /health answers 200
    WORKER = "worker"  # ready when its heartbeat is in Redis
    GATEWAY = "gateway"  # HTTP, ready when GET /api/health answers 200


@dataclass(frozen=True)
class ProcessSpec:
    """One process: ``python -m <module> <args>`` with the variables ``env_names``.

    ``prefixes``: further variables with these prefixes (``AUTH_ARGON2_TIME_COST``)
    are handed to this process only.
    """

    name: str
    module: str
    args: tuple[str, ...]
    role: Role
    env_names: frozenset[str]
    prefixes: tuple[str, ...]
    port_variable: str | None = None
    host_variable: str | None = None
    service: str | None = None  # the service whose schema (and database role) it uses

    @property
    def argv(self) -> list[str]:
        """The command, with ``python`` for the interpreter."""
        return ["python", "-m", self.module, *self.args]

    @property
    def module_path(self) -> str:
        """The file ``python -m`` runs, relative to the repository root."""
        return self.module.replace(".", "/") + "/__main__.py"


def _service_env(service: Service) -> frozenset[str]:
    names = {*BASE, *AWS, "DATABASE_URL", "QUARRY_WEBHOOK_SECRET"}
    names |= {service.port_variable, service.host_variable}
    if service.name == "auth":
        names |= set(AUTH_ONLY)
    return frozenset(names)


def _plan() -> tuple[ProcessSpec, ...]:
    specs: list[ProcessSpec] = []
    for service in SERVICES:
        env = _service_env(service)
        specs.append(
            ProcessSpec(
                name=f"{service.name}-migrate",
                module=service.module,
                args=("migrate",),
                role=Role.MIGRATE,
                env_names=env,
                prefixes=(service.prefix,),
                service=service.name,
            )
        )
        specs.append(
            ProcessSpec(
                name=service.name,
                module=service.module,
                args=("serve",),
                role=Role.SERVICE,
                env_names=env,
                prefixes=(service.prefix,),
                port_variable=service.port_variable,
                host_variable=service.host_variable,
                service=service.name,
            )
        )
    # The parse worker holds no database credentials: queue, storage and webhooks only.
    specs.append(
        ProcessSpec(
            name="worker",
            module="services.ingest.worker",
            args=(),
            role=Role.WORKER,
            env_names=frozenset({*BASE, *AWS, "QUARRY_WEBHOOK_SECRET"}),
            prefixes=("INGEST_",),
        )
    )
    specs.append(
        ProcessSpec(
            name="gateway",
            module="gateway",
            args=("serve",),
            role=Role.GATEWAY,
            env_names=frozenset({*BASE, GATEWAY_PORT_VARIABLE, GATEWAY_HOST_VARIABLE}),
            prefixes=(GATEWAY_PREFIX,),
            port_variable=GATEWAY_PORT_VARIABLE,
            host_variable=GATEWAY_HOST_VARIABLE,
        )
    )
    return tuple(specs)


PROCESSES: tuple[ProcessSpec, ...] = _plan()
MANAGED_NAMES: frozenset[str] = frozenset().union(*(p.env_names for p in PROCESSES))
PREFIXES: tuple[str, ...] = tuple(sorted({x for p in PROCESSES for x in p.prefixes}))


def is_platform_variable(name: str) -> bool:
    """A variable the launcher decides for its processes (a managed name, or one with a
    process's prefix); every other variable of the launcher's environment is inherited."""
    return name in MANAGED_NAMES or name.startswith(PREFIXES)


def receives(spec: ProcessSpec, name: str) -> bool:
    """Whether an extra variable ``name`` goes to ``spec``: a managed name where it is
    listed, a prefixed name where the prefix is the process's, anything else everywhere."""
    if name in MANAGED_NAMES:
        return name in spec.env_names
    if name.startswith(PREFIXES):
        return name.startswith(spec.prefixes)
    return True
