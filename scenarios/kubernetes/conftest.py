"""Kubernetes suite plumbing: the target's cluster, reached through its ClusterAccess ability.

The ability is asked of the target before it is provisioned, so on a target without cluster
access (the local one) every scenario here skips at once, with the reason, and no stack is
started for nothing.
"""

from __future__ import annotations

import pytest
from eg_harness.checks.pods import container_env, env_quantity_problems
from eg_harness.errors import HarnessError
from eg_harness.fixtures.abilities import require
from eg_harness.k8s.client import Kube
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.abilities import ClusterAccess
from eg_harness.targets.base import Target

POD_SEEN_S = 30.0  # a kernel that answered an execute has a pod; the list may lag a little


@pytest.fixture(scope="session")
def kube(target_unprovisioned: Target, request: pytest.FixtureRequest) -> Kube:
    """A client of the target's cluster (skip without ClusterAccess; provisions the target)."""
    require(target_unprovisioned, ClusterAccess)
    target: Target = request.getfixturevalue("target")
    client = Kube(target.ability(ClusterAccess).kubernetes())
    yield client
    client.close()


@pytest.fixture
def kernel_pods(kube: Kube):
    """kernel_pods(kernel_id) -> the kernel's pods, waiting until at least one is listed."""

    def find(kernel_id: str) -> list:
        return wait_for(
            f"a pod labelled kernel_id={kernel_id}", lambda: kube.kernel_pods(kernel_id), POD_SEEN_S
        )

    return find


@pytest.fixture
def hub_launch(kube: Kube):
    """hub_launch(server, kernelspec) -> a kernel started through a user server; when the start
    fails, the failure also says what in the user's pod made it fail, where the harness can
    tell (KERNEL_* resource values the API server refuses in every kernel pod)."""

    def launch(server, kernelspec: str | None):
        try:
            return server.client.launch(kernelspec)
        except HarnessError as exc:
            hints = []
            if kube.access.hub_namespace is not None:
                try:
                    pod = kube.user_pod(server.name)
                    hints = env_quantity_problems(container_env(pod)) if pod is not None else []
                except Exception:  # noqa: BLE001 - a hint, not the verdict
                    hints = []
            cause = f"; in {server.name}'s pod: " + "; ".join(hints) if hints else ""
            raise AssertionError(
                f"no kernel started through {server.name}'s server{cause}: {exc}"
            ) from exc

    return launch
