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


def documents() -> list[dict[str, Any]]:
    found = []
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        found += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return found


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}


def test_every_process_is_restarted_by_kubernetes_when_it_dies_or_hangs() -> None:
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod.get("restartPolicy", "Always") == "Always", name  # a dead container returns
        for container in pod["containers"]:
            assert container.get("livenessProbe"), f"{name}: a hung process is never restarted"
            if name != "worker":  # the worker serves no traffic: nothing to be ready for
                assert container.get("readinessProbe"), f"{name} gets traffic before it is ready"


def test_the_worker_probe_reads_the_file_its_heartbeat_touches() -> None:
    worker = deployments()["worker"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    probe = " ".join(worker["livenessProbe"]["exec"]["command"])
    assert env["INGEST_LIVENESS_FILE"] in probe


def test_only_the_gateway_is_reachable_from_outside_the_platform() -> None:
    policies = {
        d["metadata"]["name"]: d["spec"] for d in documents() if d["kind"] == "NetworkPolicy"
    }
    deny = policies["default-deny-ingress"]
    assert deny["podSelector"] == {}
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny  # every pod refuses ingress unless allowed below
    allowed_from_anywhere = [
        p for p in policies.values() if any("from" not in rule for rule in p.get("ingress", []))
    ]
    assert [p["podSelector"] for p in allowed_from_anywhere] == [
        {"matchLabels": {"app": "quarry", "component": "gateway"}}
    ]
    services = policies["services-from-the-platform-only"]
    selected = services["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(selected) == ["analysis", "auth", "ingest", "profile"]
    for rule in services["ingress"]:
        assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "quarry"}}}]


def test_no_service_is_exposed_outside_the_cluster() -> None:
    for document in documents():
        if document["kind"] == "Service":
            assert document["spec"].get("type", "ClusterIP") == "ClusterIP", document["metadata"]
