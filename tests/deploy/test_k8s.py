"""deploy/k8s runs the launcher's processes with the launcher's commands
(migrations as init containers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.topology import PROCESSES

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    pod = document["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_manifests_run_exactly_the_launchers_commands() -> None:
    commands = set()
    for path in K8S.glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "Deployment":
                commands |= {tuple(c["command"]) for c in containers(document)}
    assert commands == {tuple(p.argv) for p in PROCESSES}
