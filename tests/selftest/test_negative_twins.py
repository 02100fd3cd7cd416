"""Negative twins: each seeded fault makes the scenario that owns it fail, naming the fault.

A suite that passes on a broken deployment is a defect of the harness; these runs prove the
suites are not blind to the misconfigurations users actually hit.
"""

from __future__ import annotations

import pytest
from eg_harness.targets.faults import LOCAL_FAULTS

pytestmark = pytest.mark.slow

# (fault, suite) -> its catches, from the catalogue's local faults (the node target's twins run
# in tests/selftest/test_node_target.py, on its cluster). A fault's catches in one suite share
# one run (one stack, one pytest start): each catch's scenario must still fail with its own words.
# The gate's catch (gateway_slow_start) is proved by test_bench_gate.py, through `bench` and
# `gate` rather than a suite run.
TWINS: dict[str, list] = {}
for fault in LOCAL_FAULTS:
    for catch in fault.caught_by:
        if catch.suite != "gate":
            TWINS.setdefault(f"{fault.name}:{catch.suite}", []).append(catch)


# Twins whose scenarios go straight at the gateway: their runs must not start a hub.
GATEWAY_ONLY = {"gateway_no_token:auth", "gateway_socket_timeout_zero:throughput"}


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_fault_is_caught_by_its_scenarios(twin, harness):
    fault, suite = twin.split(":")
    catches = TWINS[twin]
    select = " or ".join(f"({catch.select})" for catch in catches)
    run = harness(["run", "--suite", suite, "--local-fault", fault, "--", "-k", select])
    assert run.returncode == 1, run.explain()
    for catch in catches:
        owner = catch.test
        failed = [t for t in run.outcome(owner) if t["outcome"] == "failed"]
        assert failed, f"{owner} did not fail under {fault}: {run.outcome(owner)}"
        for test in failed:
            for word in catch.words:
                assert word in test["message"], (
                    f"{test['name']}: {word!r} not in {test['message']!r}"
                )
    assert fault in " ".join(run.results["target"]["faults"])
    # A serial run starts its hub when a test first asks for it (hub_provision), else never.
    hub_started = [s for s in run.results["spans"] if s["name"] == "hub_provision"]
    assert len(hub_started) == ("hub" in run.results["target"]["endpoints"]), hub_started
    if twin in GATEWAY_ONLY:
        assert not hub_started, f"{twin}: its scenarios never ask for the hub"
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])
