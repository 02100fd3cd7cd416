"""Kubernetes suite plumbing: the target's cluster, reached through its ClusterAccess ability.

The ability is asked of the target before it is provisioned, so on a target without cluster
access (the local one) every scenario here skips at once, with the reason, and no stack is
started for nothing.
"""

from __future__ import annotations

import pytest
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
