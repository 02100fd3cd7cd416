"""Negative twins: each seeded fault makes the scenario that owns it fail, naming the fault.

A suite that passes on a broken deployment is a defect of the harness; these runs prove the
suites are not blind to the misconfigurations users actually hit.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

# fault -> (suite, -k selection, test name part that must fail, words the message must contain)
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
    "gateway_max_kernels": (
        "throughput",
        "storm_reaches",
        "test_storm_reaches_first_execute_for_every_user",
        # EG answers the excess with 403, or with its 500 race (see test_limits.py).
        ["start_kernel: HTTP", "journeys reached their first execute"],
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
    run = harness(["run", "--suite", suite, "--local-fault", fault, "--", "-k", selection])
    assert run.returncode == 1, run.explain()
    failed = [t for t in run.outcome(owner) if t["outcome"] == "failed"]
    assert failed, f"{owner} did not fail under {fault}: {run.outcome(owner)}"
    for test in failed:
        for word in words:
            assert word in test["message"], f"{test['name']}: {word!r} not in {test['message']!r}"
    assert fault in " ".join(run.results["target"]["faults"])
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])
