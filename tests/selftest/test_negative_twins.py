"""Negative twins: each seeded fault makes the scenario that owns it fail, naming the fault.

A suite that passes on a broken deployment is a defect of the harness; these runs prove the
suites are not blind to the misconfigurations users actually hit.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

# fault[:variant] -> (suite, -k selection, test name part that must fail, words the message must
# contain); a fault can own several scenarios, one entry each.
TWINS = {
    "gateway_no_token": (
        "auth",
        "wrong_credentials_refused",
        "test_wrong_credentials_refused",
        ["accepted bad credentials", "not enforcing its auth token"],
    ),
    "gateway_allows_root": (
        "auth",
        "unauthorized_users_refused",
        "test_unauthorized_users_refused",
        ["'root'", "EG_UNAUTHORIZED_USERS is not enforced"],
    ),
    "hub_no_identity": (
        "auth",
        "carries_hub_user_name",
        "test_kernel_carries_hub_user_name",
        ["KERNEL_USERNAME"],
    ),
    "hub_fixed_identity": (
        "auth",
        "carries_hub_user_name",
        "test_kernel_carries_hub_user_name",
        ["KERNEL_USERNAME='jovyan'", "does not pass the user's identity"],
    ),
    "gateway_ws_drops_binary": (
        "websocket",
        "negotiated_protocol_works and gateway and v1",
        "test_negotiated_protocol_works",
        ["binary WebSocket frames are not getting through"],
    ),
    "gateway_ws_refuses_upgrade": (
        "websocket",
        "negotiated_protocol_works and gateway and nothing",
        "test_negotiated_protocol_works",
        ["handshake", "refused with HTTP 403"],
    ),
    "spark_ignores_memory": (
        "spark",
        "kernel_env_reaches_the_driver",
        "test_kernel_env_reaches_the_driver",
        ["driver heap is 1024 MiB", "expected 2048 MiB from driver memory 2g"],
    ),
    "spark_ignores_memory:notebook": (
        "spark",
        "notebook_code_cannot_resize",
        "test_notebook_code_cannot_resize_the_driver",
        ["driver heap is 1024 MiB, expected 2048 MiB"],
    ),
    "spark_ignores_memory:order": (
        "spark",
        "follow_egs_order",
        "test_resource_options_follow_egs_order",
        ["does not apply EG's option order", "spark.driver.memory is"],
    ),
    "spark_ignores_memory:bad_values": (
        "spark",
        "bad_memory_fails_clearly_at_the_gateway",
        "test_bad_memory_fails_clearly_at_the_gateway",
        ["KERNEL_MEMORY=2Gi", "started a kernel"],
    ),
    "gateway_max_kernels": (
        "throughput",
        "storm_reaches",
        "test_storm_reaches_first_execute_for_every_user",
        # EG answers the excess with 403, or with its 500 race (see test_limits.py).
        ["start_kernel: HTTP", "journeys reached their first execute"],
    ),
    "gateway_limit_unset": (
        "throughput",
        "max_kernels_limit_holds",
        "test_max_kernels_limit_holds_in_a_storm",
        ["kernels accepted with a limit of 2"],
    ),
    "gateway_limit_unset:per_user": (
        "throughput",
        "per_user_limit",
        "test_per_user_limit_refuses_only_that_user",
        ["a user over the per-user limit got: accepted"],
    ),
    "profile_not_gateway": (
        "startup",
        "through_hub",
        "test_user_server_kernel_runs_on_gateway",
        ["unknown to the gateway", "not in gateway mode"],
    ),
}


@pytest.mark.parametrize("fault", sorted(TWINS))
def test_fault_is_caught_by_its_scenario(fault, harness):
    suite, selection, owner, words = TWINS[fault]
    fault = fault.split(":")[0]
    run = harness(["run", "--suite", suite, "--local-fault", fault, "--", "-k", selection])
    assert run.returncode == 1, run.explain()
    failed = [t for t in run.outcome(owner) if t["outcome"] == "failed"]
    assert failed, f"{owner} did not fail under {fault}: {run.outcome(owner)}"
    for test in failed:
        for word in words:
            assert word in test["message"], f"{test['name']}: {word!r} not in {test['message']!r}"
    assert fault in " ".join(run.results["target"]["faults"])
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])
