"""Kernel pods carry the requests and limits their start asked for (KERNEL_CPUS, KERNEL_MEMORY,
KERNEL_CPUS_LIMIT, KERNEL_MEMORY_LIMIT), straight at the gateway and from a profile choice.

EG's kernel-pod template copies those values verbatim into the pod, so a profile that gives a
Spark size (2g) where the pod needs a Kubernetes quantity (2Gi) breaks every non-Spark kernel
of that user: the verdict says so. Spark driver pods are checked by the spark suite
(scenarios/spark/test_kubernetes.py) through the same cluster access.
"""

from __future__ import annotations

import pytest
from eg_harness.checks.pods import (
    RESOURCE_ENV,
    container_env,
    kernel_resource_problems,
    pod_ref,
    resources_of,
)

# Small enough for any node; limit above request, as a profile would set them.
REQUESTED = {
    "KERNEL_CPUS": "250m",
    "KERNEL_MEMORY": "256Mi",
    "KERNEL_CPUS_LIMIT": "500m",
    "KERNEL_MEMORY_LIMIT": "512Mi",
}
TABLE = "Kernel pod resources"
COLUMNS = ["hop", "pod", "asked (KERNEL_*)", "requests", "limits", "verdict"]


def _row(run_state, hop: str, pod, asked: dict, problems: list[str]) -> None:
    res = resources_of(pod)
    verdict = "ok" if not problems else "; ".join(problems)
    run_state.table_row(
        TABLE, COLUMNS, [hop, pod_ref(pod), asked, res["requests"], res["limits"], verdict]
    )


def test_kernel_pod_resources_match_the_start(kube, kernel_pods, gateway, target, run_state):
    """Straight at the gateway: every KERNEL_* resource value is in the pod, as a quantity."""
    handle = gateway.launch(target.gateway.kernelspec, REQUESTED)
    try:
        pod = kernel_pods(handle.id)[0]
        problems = kernel_resource_problems(pod, REQUESTED)
        _row(run_state, "gateway", pod, REQUESTED, problems)
    finally:
        handle.close()
    assert not problems, "\n".join(problems)


def test_profile_choice_reaches_the_kernel_pod(
    kube, kernel_pods, hub_launch, target, throwaway_user_server, run_state
):
    """Through the hub, for each profile choice: the kernel pod's env carries the choice's
    KERNEL_MEMORY and KERNEL_CPUS, and its resources are those values."""
    choices = [c for c in (target.spark.choices if target.spark else []) if c.user_options]
    if not choices:
        pytest.skip("no profile choices known: list them under spark.choices with user_options")
    problems = []
    for choice in choices:
        with throwaway_user_server(user_options=choice.user_options) as server:
            try:
                handle = hub_launch(server, target.gateway.kernelspec)
            except AssertionError as exc:  # names the user pod's bad KERNEL_* where it can
                problems.append(f"{choice.label}: {exc}")
                continue
            try:
                pod = kernel_pods(handle.id)[0]
                env = container_env(pod)
                asked = {k: env[k] for k in RESOURCE_ENV if k in env}
                found = []
                for var, wanted in (("KERNEL_MEMORY", choice.memory), ("KERNEL_CPUS", choice.cpus)):
                    if env.get(var) != str(wanted):
                        found.append(
                            f"{choice.label}: pod {pod_ref(pod)} has {var}={env.get(var)!r}, "
                            f"the profile chose {wanted!r}"
                        )
                found += [f"{choice.label}: {p}" for p in kernel_resource_problems(pod, asked)]
                _row(run_state, f"hub ({choice.label})", pod, asked, found)
                problems += found
            finally:
                handle.close()
    assert not problems, "\n".join(problems)
