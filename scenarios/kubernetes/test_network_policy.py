"""The network between user pods and the gateway: a user's pod reaches the gateway's service
(z2jh's singleuser egress policy denies private IPs unless a rule allows it), and a pod of
another namespace without the policy's labels does not, where a policy guards the gateway and
the cluster enforces policies.

Both probes are a TCP connect to the service's cluster IP (not its DNS name, so a DNS problem
is not mistaken for a policy) from Python inside the pod: the user's own pod by exec, and a
one-shot pod with the gateway's image in a namespace the run creates and deletes.
"""

from __future__ import annotations

import pytest
from eg_harness.checks.netpol import (
    Probe,
    outsider_problems,
    policies_guarding,
    user_reach_problems,
)
from eg_harness.checks.pods import dns_label, pod_ref
from eg_harness.k8s.client import connect_probe
from eg_harness.runtime.text import clip
from eg_harness.runtime.waits import wait_for

TABLE = "Network reach of the gateway"
COLUMNS = ["from", "to", "connected", "output", "guarding policies"]


def _service(kube) -> tuple[str, int]:
    svc = kube.gateway_service()
    return svc.spec.cluster_ip, svc.spec.ports[0].port


def test_user_pod_reaches_the_gateway(kube, user_server, run_state):
    """From the hub user's own pod, the gateway's service accepts a connection."""
    if kube.access.hub_namespace is None:
        pytest.skip("the target names no hub namespace (kubernetes.hub_namespace): no user pod")
    pod = wait_for(
        f"{user_server.name}'s pod in {kube.access.hub_namespace}",
        lambda: kube.user_pod(user_server.name),
        30,
    )
    host, port = _service(kube)
    res = kube.exec(pod, connect_probe(host, port))
    probe = Probe(f"user pod {pod_ref(pod)}", res.code == 0, res.output)
    run_state.table_row(
        TABLE,
        COLUMNS,
        [probe.source, f"{host}:{port}", probe.connected, clip(res.output.strip(), 200), ""],
    )
    problems = user_reach_problems(probe, f"{host}:{port}")
    assert not problems, "\n".join(problems)


def test_unlabelled_pod_of_another_namespace_cannot_reach_the_gateway(kube, target, run_state):
    """Where a NetworkPolicy guards the gateway's pods and the cluster enforces policies, a pod
    of a fresh namespace with none of the policy's labels is refused."""
    access = kube.access
    if access.network_policy_enforced is False:
        pytest.skip(
            "NetworkPolicy is not enforced here: the cluster's network plugin ignores policies "
            "(kubernetes.network_policy_enforced: false), so an outsider's refusal cannot be "
            "proved on it"
        )
    if access.network_policy_enforced is not True:
        pytest.skip(
            "the target does not say its cluster enforces NetworkPolicy "
            f"(kubernetes.network_policy_enforced: {access.network_policy_enforced})"
        )
    gateway_pods = kube.gateway_pods()
    assert gateway_pods, f"no pod behind service {access.namespace}/{access.gateway_service}"
    labels = gateway_pods[0].metadata.labels or {}
    guarding = policies_guarding(kube.network_policies(access.namespace), labels)
    if not guarding:
        run_state.table_row(
            TABLE, COLUMNS, ["(any pod)", access.gateway_service, "not probed", "", "none"]
        )
        pytest.skip(
            f"no NetworkPolicy in {access.namespace} selects the gateway's pods {labels}: every "
            "pod of the cluster can reach the gateway, and only its token guards it"
        )
    host, port = _service(kube)
    image = gateway_pods[0].spec.containers[0].image  # present on the cluster, has Python
    namespace = f"egh-np-{dns_label(target.run_id)}"[:63].rstrip("-")
    kube.create_namespace(namespace, target.run_id)
    try:
        res = kube.run_probe_pod(namespace, image, connect_probe(host, port), target.run_id)
    finally:
        kube.delete_namespace(namespace)
    probe = Probe(f"unlabelled pod in {namespace}", res.code == 0, res.output)
    run_state.table_row(
        TABLE,
        COLUMNS,
        [
            probe.source,
            f"{host}:{port}",
            probe.connected,
            clip(res.output.strip(), 200),
            ", ".join(p.metadata.name for p in guarding),
        ],
    )
    problems = outsider_problems(probe, f"{host}:{port}", guarding)
    assert not problems, "\n".join(problems)
