"""The import contracts (pyproject.toml, ``lint-imports``) catch what docs/DESIGN.md forbids.

Each case plants one violation in a temporary copy of the code and runs import-linter
there: the contract that describes the rule must come out BROKEN. The unplanted copy
must keep every contract, so a case fails only because of what it planted. Services
that are not built yet get their layers created in the copy, so their contracts are
shown to check something before the code lands.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
# Every package import-linter analyses (read from the config, which grows).
PACKAGES = tuple(CONFIG["root_packages"])
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

ROUTES_RULE = "Routes parse HTTP and call the service"
NO_FASTAPI_RULE = "Service modules hold rules and the unit of work: no fastapi"
WORKER_RULE = "The parse worker holds no database credentials"
INDEPENDENCE_RULE = "Services are independent"


def layers_rule(service: str) -> str:
    return f"{service}: every module in a layer"


def copy_tree(destination: Path) -> Path:
    """The Python sources and pyproject.toml, nothing else (no caches, no data)."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            destination / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "static"),
        )
    shutil.copy2(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def lint_imports(tree: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The report wraps long contract names: join the lines back for matching.
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    return result.returncode, output


def contract_names() -> list[str]:
    return [c["name"] for c in CONFIG["contracts"]]


def broken(output: str) -> list[str]:
    """The names of the contracts reported BROKEN."""
    return [name for name in contract_names() if re.sub(r"\s+", " ", name) + " BROKEN" in output]


@dataclass(frozen=True)
class Plant:
    """Append ``code`` to ``path`` (created, with its packages, when missing)."""

    path: str
    code: str

    def apply(self, tree: Path) -> None:
        target = tree / self.path
        for parent in reversed(target.relative_to(tree).parents[:-1]):
            package = tree / parent
            if not package.exists():
                package.mkdir()
                (package / "__init__.py").write_text("")
        with target.open("a") as handle:
            handle.write(f"\n{self.code}\n")


CASES: dict[str, tuple[list[Plant], str]] = {
    "auth routes import the repository (skipping the service)": (
        [
            Plant(
                "services/auth/routes/skype.py",
                "from services.auth.repository import AuthRepository",
            )
        ],
        ROUTES_RULE,
    ),
    "auth routes import the models": (
        [Plant("services/auth/routes/profile.py", "from services.auth.models import User")],
        ROUTES_RULE,
    ),
    "auth routes build SQL themselves": (
        [Plant("services/auth/routes/files.py", "from sqlalchemy import select")],
        ROUTES_RULE,
    ),
    "an auth service module imports fastapi": (
        [Plant("services/auth/service/accounts.py", "from fastapi import Request")],
        NO_FASTAPI_RULE,
    ),
    "auth sessions import the routes": (
        [Plant("services/auth/service/sessions.py", "import services.auth.routes.skype")],
        layers_rule("auth"),
    ),
    "the auth repository imports a service module": (
        [Plant("services/auth/repository.py", "import services.auth.service.accounts")],
        layers_rule("auth"),
    ),
    "an auth security primitive imports a flow": (
        [Plant("services/auth/security/totp.py", "import services.auth.service.two_factor")],
        layers_rule("auth"),
    ),
    "an auth module that belongs to no layer": (
        [Plant("services/auth/helpers.py", "import services.auth.models")],
        layers_rule("auth"),
    ),
    "auth schemas import the models (schemas sit below them)": (
        [Plant("services/auth/schemas.py", "import services.auth.models")],
        layers_rule("auth"),
    ),
    "ingest routes import ingest's repository (not built yet)": (
        [
            Plant("services/ingest/repository.py", "import services.ingest.models"),
            Plant("services/ingest/routes/files.py", "import services.ingest.repository"),
        ],
        ROUTES_RULE,
    ),
    "ingest's service imports fastapi (not built yet)": (
        [Plant("services/ingest/service.py", "import fastapi")],
        NO_FASTAPI_RULE,
    ),
    "a service package of profile imports fastapi (not built yet)": (
        [Plant("services/profile/service/comments.py", "from fastapi import WebSocket")],
        NO_FASTAPI_RULE,
    ),
    "profile's repository imports its service": (
        [Plant("services/profile/repository.py", "import services.profile.service.avatars")],
        layers_rule("profile"),
    ),
    "analysis models import the routes": (
        [Plant("services/analysis/models.py", "import services.analysis.routes")],
        layers_rule("analysis"),
    ),
    "analysis reports import the service (not built yet)": (
        [
            Plant("services/analysis/service.py", "import services.analysis.models"),
            Plant("services/analysis/reports/html.py", "import services.analysis.service"),
        ],
        layers_rule("analysis"),
    ),
    "a profile module that belongs to no layer": (
        [Plant("services/profile/unlayered.py", "import services.profile.models")],
        layers_rule("profile"),
    ),
    "the ingest worker imports ingest's models": (
        [Plant("services/ingest/worker/handlers.py", "import services.ingest.models")],
        WORKER_RULE,
    ),
    "the ingest worker imports SQLAlchemy": (
        [Plant("services/ingest/worker/runner.py", "import sqlalchemy")],
        WORKER_RULE,
    ),
    "the ingest worker reaches the database through shared": (
        [Plant("services/ingest/worker/consumer.py", "import shared.database")],
        WORKER_RULE,
    ),
    "one service imports another": (
        [Plant("services/profile/app.py", "import services.auth.models")],
        INDEPENDENCE_RULE,
    ),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(tmp_path_factory.mktemp("pristine"))


def test_the_unplanted_copy_keeps_every_contract(pristine: Path) -> None:
    code, output = lint_imports(pristine)
    assert code == 0, output
    assert re.search(r"Contracts: \d+ kept, 0 broken", output), output


@pytest.mark.parametrize("case", list(CASES))
def test_a_planted_violation_breaks_its_contract(case: str, pristine: Path, tmp_path: Path) -> None:
    plants, rule = CASES[case]
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    for plant in plants:
        plant.apply(tree)
    code, output = lint_imports(tree)
    assert code != 0, output
    assert any(name.startswith(rule) for name in broken(output)), (rule, broken(output), output)
