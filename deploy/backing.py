"""The backing services (PostgreSQL, Redis, S3, SQS), started for real on loopback
without Docker or root: ``make up`` keeps their data under ``QUARRY_DATA_DIR``,
the tests start throw-away ones. S3 is SeaweedFS (on disk), SQS is moto.

A component whose URL is configured (``DATABASE_URL``, ``REDIS_URL``,
``S3_ENDPOINT_URL`` / ``SQS_ENDPOINT_URL``) is used as it is; we start only the rest.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy import console as console_module
from deploy.dev_secrets import (
    BACKING_GENERATORS,
    POSTGRES_SUPERUSER_PASSWORD,
    REDIS_PASSWORD,
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    generate,
    load_or_create,
    service_role_password,
)
from deploy.moto_server import endpoint, launch_moto
from deploy.object_store import StoreCredentials, launch_object_store
from deploy.object_store import endpoint as store_endpoint
from deploy.postgres import run_postgres
from deploy.processes import ServerLaunch
from deploy.redis_server import run_redis
from deploy.topology import SERVICES
from deploy.urls import without_password

DUMMY_AWS_CREDENTIAL = "testing"
DEFAULT_AWS_REGION = "us-east-1"


@dataclass(frozen=True)
class BackingServices:
    """Where the backing services answer, and which of them we started ourselves."""

    database_url: str
    redis_url: str
    s3_endpoint_url: str
    sqs_endpoint_url: str
    aws_region: str = DEFAULT_AWS_REGION
    aws_access_key_id: str = DUMMY_AWS_CREDENTIAL
    aws_secret_access_key: str = DUMMY_AWS_CREDENTIAL
    started: tuple[str, ...] = ()
    # service -> the URL of its own role (empty when DATABASE_URL was configured).
    service_database_urls: dict[str, str] = field(default_factory=dict)
    # The servers we started, by name, for the supervisor to restart.
    servers: dict[str, ServerLaunch] = field(default_factory=dict, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """The environment variables every process reads to reach them (``DATABASE_URL``
        is the superuser's: the launcher gives each service its own instead)."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "SQS_ENDPOINT_URL": self.sqs_endpoint_url,
            "AWS_REGION": self.aws_region,
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
        }


def _throwaway_dir(stack: ExitStack, prefix: str) -> Path:
    """A fresh directory under the system temp dir (world-traversable, unlike
    pytest's per-user base directory), removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def _announce(show: bool, what: str, url: str, since: float) -> None:
    if show:
        took = time.monotonic() - since
        message = f"{what} ready: {without_password(url)} ({took:.1f} s)"
        console_module.current().launcher("info", message)


@contextmanager
def start_backing(
    data_dir: Path,
    *,
    persistent: bool,
    configured: Mapping[str, str] | None = None,
    console: bool = False,
) -> Iterator[BackingServices]:
    """Start what is not ``configured`` and wait until each answers; stop it all on exit,
    errors and Ctrl-C included.

    ``persistent`` keeps PostgreSQL, Redis and S3 data under ``data_dir`` (durable
    settings); otherwise they live in fresh temp dirs (PostgreSQL with fsync off, Redis
    in memory). SQS (moto) is in memory either way: the jobs outbox in PostgreSQL sends
    again what a lost queue held (docs/DESIGN.md "Pipeline"). Logs: ``data_dir/logs``.
    """
    configured = {k: v for k, v in (configured or {}).items() if v}
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    servers: dict[str, ServerLaunch] = {}
    secret = (
        load_or_create(data_dir / "secrets.env", BACKING_GENERATORS)
        if persistent
        else generate(BACKING_GENERATORS)
    )
    aws_key = configured.get("AWS_ACCESS_KEY_ID") or secret[S3_ACCESS_KEY_ID]
    aws_secret = configured.get("AWS_SECRET_ACCESS_KEY") or secret[S3_SECRET_ACCESS_KEY]
    began = time.monotonic()
    with ExitStack() as stack:
        s3_url = configured.get("S3_ENDPOINT_URL")
        sqs_url = configured.get("SQS_ENDPOINT_URL")
        # The slowest to boot first: they start while the others do.
        moto = None
        if sqs_url is None:
            moto = launch_moto(log_path=logs / "moto.log", console=console)
            stack.callback(moto.stop)
            started.append("moto")
            servers["moto"] = moto
        store = None
        if s3_url is None:
            store_dir = (
                data_dir / "object-store" if persistent else _throwaway_dir(stack, "quarry-s3-")
            )
            store = launch_object_store(
                store_dir,
                credentials=StoreCredentials(aws_key, aws_secret),
                log_path=logs / "s3.log",
                console=console,
            )
            # A throw-away store need not shut down cleanly (nor would a durable one lose
            # an acknowledged object if it did not: tests/deploy/test_object_store.py).
            stack.callback(store.stop, 30.0 if persistent else 0.5)
            started.append("s3")
            servers["s3"] = store

        database_url = configured.get("DATABASE_URL")
        service_urls: dict[str, str] = {}
        if database_url is None:
            # A fresh temp dir is handed to the server's account as the data dir itself.
            pgdata = data_dir / "postgres" if persistent else _throwaway_dir(stack, "quarry-pg-")
            postgres = stack.enter_context(
                run_postgres(
                    pgdata,
                    log_path=logs / "postgres.log",
                    durable=persistent,
                    superuser_password=secret[POSTGRES_SUPERUSER_PASSWORD],
                    console=console,
                    on_launch=lambda launch: servers.__setitem__("postgres", launch),
                )
            )
            database_url = postgres.url()
            service_urls = postgres.ensure_service_roles(
                {s.name: secret[service_role_password(s.name)] for s in SERVICES}
            )
            started.append("postgres")
            _announce(console, "PostgreSQL", database_url, began)

        redis_url = configured.get("REDIS_URL")
        if redis_url is None:
            redis_dir = data_dir / "redis" if persistent else _throwaway_dir(stack, "quarry-redis-")
            redis_url = stack.enter_context(
                run_redis(
                    redis_dir,
                    log_path=logs / "redis.log",
                    durable=persistent,
                    password=secret[REDIS_PASSWORD],
                    console=console,
                    on_launch=lambda launch: servers.__setitem__("redis", launch),
                )
            )
            started.append("redis")
            _announce(console, "Redis", redis_url, began)

        if store is not None:
            s3_url = store_endpoint(store.wait())
            _announce(console, "S3 (SeaweedFS)", s3_url, began)
        if moto is not None:
            sqs_url = endpoint(moto.wait())
            _announce(console, "SQS (moto)", sqs_url, began)
        assert s3_url is not None
        assert sqs_url is not None
        yield BackingServices(
            database_url=database_url,
            redis_url=redis_url,
            s3_endpoint_url=s3_url,
            sqs_endpoint_url=sqs_url,
            aws_region=configured.get("AWS_REGION", DEFAULT_AWS_REGION),
            aws_access_key_id=aws_key,
            aws_secret_access_key=aws_secret,
            started=tuple(started),
            service_database_urls=service_urls,
            servers=servers,
        )
