"""On Kubernetes, the driver pod's requests and limits carry the profile's memory and CPUs.

The JVM checks (test_resources) prove what the driver got; this proves what the scheduler was
asked for, which decides where the pod lands and when it is killed for memory.
"""

from __future__ import annotations

import pytest
from eg_harness.checks.spark import launch_env, pod_resource_problems


def _core_api(access):
    from kubernetes import client, config

    try:
        config.load_kube_config(config_file=access.kubeconfig, context=access.context)
    except Exception:
        config.load_incluster_config()
    return client.CoreV1Api()


def test_driver_pod_resources_match_the_profile(spark, gateway, spark_start, run_state, target):
    if spark.kubernetes is None:
        pytest.skip(
            "no Kubernetes access: drivers here are not pods (local target), or the target "
            "config has no spark.kubernetes section"
        )
    core = _core_api(spark.kubernetes)
    failures = []
    for choice in spark.choices:
        env = launch_env(spark.launch_timeout, KERNEL_MEMORY=choice.memory, KERNEL_CPUS=choice.cpus)
        start = spark_start(gateway, spark, env, {"hop": "gateway", "choice": choice.label})
        try:
            selector = f"kernel_id={start.handle.id}"
            ns = spark.kubernetes.namespace
            pods = (
                core.list_namespaced_pod(ns, label_selector=selector)
                if ns
                else core.list_pod_for_all_namespaces(label_selector=selector)
            ).items
            drivers = [p for p in pods if (p.metadata.labels or {}).get("spark-role") != "executor"]
            if not drivers:
                failures.append(f"{choice.label}: no pod labelled {selector} in {ns or 'any ns'}")
                continue
            resources = drivers[0].spec.containers[0].resources
            problems = pod_resource_problems(
                (resources.requests or {}), (resources.limits or {}), choice.memory, choice.cpus
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
    assert not failures, "\n".join(failures)
