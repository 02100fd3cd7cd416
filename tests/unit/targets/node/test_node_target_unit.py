"""The node target's pure parts: the seed's helm command, the overlay, the seeded faults
applied to the real chart and template, the registry, and the description scenarios get."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from eg_harness.checks.layers import Breakdown
from eg_harness.errors import ConfigError
from eg_harness.fixtures.target import watch_kernel_pods
from eg_harness.k8s.podwatch import KernelPodWatch
from eg_harness.targets import KINDS, PROVIDERS, TargetSpec, faults, make_target
from eg_harness.targets.endpoints import GatewayEndpoint
from eg_harness.targets.faults import FAULTS, drop_template_lines
from eg_harness.targets.kind.egdist import ensure_eg_dist
from eg_harness.targets.node import install, seeded
from eg_harness.targets.node.figures import PHASES, phase_offsets, summary, table
from eg_harness.targets.node.values import NODE_EG_VALUES, gateway_overlay

CHART_ROLE = "etc/kubernetes/helm/enterprise-gateway/templates/eg-clusterrole.yaml"
POD_TEMPLATE = "etc/kernel-launchers/kubernetes/scripts/kernel-pod.yaml.j2"


@pytest.fixture(scope="module")
def eg():
    """EG's sdist from the cache (fetched once with pip, hash-checked)."""
    return ensure_eg_dist(lambda _m: None)


def test_helm_command_is_the_seeds_with_the_token_as_a_string():
    argv = install.helm_argv(
        "helm",
        Path("/k/admin.conf"),
        Path("/chart"),
        token="0123",
        kernelspecs_ref="eg-harness/kernelspecs:abc",
        values=[NODE_EG_VALUES, Path("/run/overlay.yaml")],
        timeout_s=300,
    )
    text = " ".join(argv)
    assert text.startswith(
        "helm upgrade --cleanup-on-fail --install kdp-enterprise-gateway /chart --atomic "
        "--namespace enterprise-gateway --set-string authToken=0123 "
        "--set kernelspecs.image=eg-harness/kernelspecs:abc --create-namespace"
    )
    assert argv[-4:] == ["-f", str(NODE_EG_VALUES), "-f", "/run/overlay.yaml"]


def test_provider_values_need_no_registry_and_explain_every_key():
    values = yaml.safe_load(NODE_EG_VALUES.read_text())
    assert values["imagePullPolicy"] == "Never"
    assert values["kernelspecs"]["imagePullPolicy"] == "Never"
    assert values["kip"]["enabled"] is False
    assert values["service"]["type"] == "ClusterIP"
    assert values["kernel"]["allowedKernels"] == ["python_kubernetes"]
    text = NODE_EG_VALUES.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("#", "-")):
            continue
        near = [lines[i - 1], lines[i + 1] if i + 1 < len(lines) else ""]
        assert any(n.lstrip().startswith("#") for n in near), f"{line.strip()}: not explained"
    overlay = gateway_overlay(gateway_ref="eg-harness/enterprise-gateway:0123456789abcdef")
    assert yaml.safe_load(overlay.render())["image"].endswith(":0123456789abcdef")
    assert "# image: " in overlay.render()


def test_revoking_create_pods_leaves_every_other_right_of_the_charts_role(eg):
    docs = (eg.root / CHART_ROLE).read_text().split("\n---\n")
    role = next(d for d in docs if f"name: {install.GATEWAY_ROLE}" in d)
    rules = yaml.safe_load("rules:" + role.split("rules:", 1)[1])["rules"]
    after = seeded.revoke(rules, "create pods")

    def grants(rs, verb, resource):
        return any(
            "" in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rs
        )

    assert grants(rules, "create", "pods") and not grants(after, "create", "pods")
    for verb in ("get", "watch", "list", "delete"):
        assert grants(after, verb, "pods")
    for resource in ("namespaces", "services", "configmaps", "secrets"):
        assert grants(after, "create", resource)
    with pytest.raises(ConfigError, match="no rule grants"):
        seeded.revoke(after, "create pods")


def test_the_memory_request_drop_hits_the_request_not_the_limit(eg):
    template = (eg.root / POD_TEMPLATE).read_text()
    (drop,) = FAULTS["kernel_pod_no_memory_request"].kernel_pod_template_drops
    patched = drop_template_lines(template, (drop,), "kernel-pod.yaml.j2")
    assert "kernel_memory | yaml_safe" not in patched
    assert "memory: {{ kernel_memory_limit | yaml_safe }}" in patched
    assert len(patched.splitlines()) == len(template.splitlines()) - 1
    with pytest.raises(ConfigError, match="on 0 lines"):
        drop_template_lines(patched, (drop,), "kernel-pod.yaml.j2")


def test_node_faults_are_refused_elsewhere_and_local_ones_on_node():
    with pytest.raises(ConfigError, match="cannot be seeded into the local target"):
        faults.resolve(["gateway_cannot_create_pods"])
    with pytest.raises(ConfigError, match="cannot be seeded into the node target"):
        faults.resolve(["gateway_no_token"], target="node")
    assert [f.name for f in faults.resolve(["gateway_cannot_create_pods"], target="node")] == [
        "gateway_cannot_create_pods"
    ]


def test_registry_lists_every_provider_and_names_them_on_a_typo():
    assert tuple(PROVIDERS) == KINDS and "node" in KINDS
    with pytest.raises(ConfigError, match="choose one of local, existing, kind, node"):
        make_target(TargetSpec(kind="nodes"))


def test_start_phases_are_offsets_from_the_request_and_summarised_as_p50_p95():
    t0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)

    def start(scheduled, started, reported, first):
        at = {
            "requested": t0,
            "scheduled": t0 + timedelta(seconds=scheduled),
            "image_pulled": None,
            "container_started": t0 + timedelta(seconds=started),
            "launcher_reported": t0 + timedelta(seconds=reported),
            "first_execute": t0 + timedelta(seconds=first),
        }
        return phase_offsets(Breakdown("s", at, {}))

    starts = [start(0.5, 1.0 + i / 10, 2.0 + i / 10, 2.5 + i / 10) for i in range(20)]
    assert starts[0] == {
        "accepted": 2.0,
        "pod scheduled": 0.5,
        "container started": 1.0,
        "kernel reported": 2.0,
        "first execute": 2.5,
    }
    got = summary(starts)
    assert got["pod scheduled"] == {"n": 20, "p50": 0.5, "p95": 0.5}
    assert got["first execute"]["p50"] == pytest.approx(3.45)
    assert got["first execute"]["p95"] == pytest.approx(4.305)
    text = table({"node": got, "local": summary([])})
    assert all(phase in text for phase in PHASES) and "local p95" in text


def test_a_parallel_worker_attached_to_a_node_stack_has_its_cluster_access():
    owner = make_target(TargetSpec(kind="node", run_id="r-node"))
    owner.gateway = GatewayEndpoint("http://10.96.0.9:8888", "t0k3n", "python_kubernetes")
    owner._versions["kernelspecs image"] = "eg-harness/kernelspecs:abc"
    handoff = owner.handoff()
    handoff["kubeconfig"] = "/state/admin.yaml"  # what a provisioned owner hands out
    worker = make_target(TargetSpec(kind="node", run_id="other"))
    worker.attach(handoff)
    access = worker.kubernetes()
    assert access.kubeconfig == "/state/admin.yaml"
    assert access.exiting_image == "eg-harness/kernelspecs:abc"
    assert access.network_policy_enforced is False and access.hub_namespace is None
    watch_kernel_pods(worker)
    assert isinstance(worker.gateway.start_watch, KernelPodWatch)
    assert worker.gateway.client().start_watch is worker.gateway.start_watch
    assert (
        worker.no_hub_reason == "the node target's hub is not installed (bring-up did not reach it)"
    )
