"""On Kubernetes, the driver pod's requests and limits carry the profile's memory and CPUs.

The JVM checks (test_resources) prove what the driver got; this proves what the scheduler was
asked for, which decides where the pod lands and when it is killed for memory. The cluster is
reached through the target's ClusterAccess, the same path as the kubernetes suite.
"""

from __future__ import annotations

from eg_harness.checks.spark import launch_env, pod_resource_problems
from eg_harness.fixtures.abilities import require
from eg_harness.k8s.client import Kube
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.abilities import ClusterAccess


def test_driver_pod_resources_match_the_profile(spark, gateway, spark_start, run_state, target):
    """Each choice's driver pod: memory plus Spark's overhead, the CPUs as request, and
    KERNEL_CPUS_LIMIT (set equal to the CPUs) as the CPU limit."""
    kube = Kube(require(target, ClusterAccess).kubernetes())
    failures = []
    try:
        for choice in spark.choices:
            env = launch_env(
                spark.launch_timeout,
                KERNEL_MEMORY=choice.memory,
                KERNEL_CPUS=choice.cpus,
                KERNEL_CPUS_LIMIT=choice.cpus,
            )
            start = spark_start(gateway, spark, env, {"hop": "gateway", "choice": choice.label})
            try:
                kernel_id = start.handle.id
                pods = wait_for(
                    f"a pod labelled kernel_id={kernel_id}",
                    lambda kernel_id=kernel_id: kube.kernel_pods(kernel_id),
                    30,
                )
                drivers = [
                    p for p in pods if (p.metadata.labels or {}).get("spark-role") != "executor"
                ]
                resources = drivers[0].spec.containers[0].resources
                problems = pod_resource_problems(
                    (resources.requests or {}),
                    (resources.limits or {}),
                    choice.memory,
                    choice.cpus,
                    cpus_limit=choice.cpus,
                )
                run_state.table_row(
                    "Driver pod resources",
                    ["choice", "pod", "requests", "limits", "verdict"],
                    [
                        choice.label,
                        drivers[0].metadata.name,
                        resources.requests,
                        resources.limits,
                        "ok" if not problems else "; ".join(problems),
                    ],
                )
                failures += [f"{choice.label}: {p}" for p in problems]
            finally:
                start.handle.close()
    finally:
        kube.close()
    assert not failures, "\n".join(failures)
