"""Negative twins: each seeded fault makes the scenario that owns it fail, naming the fault.

A suite that passes on a broken deployment is a defect of the harness; these runs prove the
suites are not blind to the misconfigurations users actually hit.
"""

from __future__ import annotations

import pytest
from eg_harness.targets.faults import CATALOGUE

pytestmark = pytest.mark.slow

# fault[:variant] -> its catch, from the catalogue; the gate's catch (gateway_slow_start) is
# proved by test_bench_gate.py, through `bench` and `gate` rather than a suite run.
TWINS = {
    f"{fault.name}:{catch.variant}" if catch.variant else fault.name: catch
    for fault in CATALOGUE
    for catch in fault.caught_by
    if catch.suite != "gate"
}


@pytest.mark.parametrize("fault", sorted(TWINS))
def test_fault_is_caught_by_its_scenario(fault, harness):
    catch = TWINS[fault]
    owner, words = catch.test, catch.words
    fault = fault.split(":")[0]
    run = harness(["run", "--suite", catch.suite, "--local-fault", fault, "--", "-k", catch.select])
    assert run.returncode == 1, run.explain()
    failed = [t for t in run.outcome(owner) if t["outcome"] == "failed"]
    assert failed, f"{owner} did not fail under {fault}: {run.outcome(owner)}"
    for test in failed:
        for word in words:
            assert word in test["message"], f"{test['name']}: {word!r} not in {test['message']!r}"
    assert fault in " ".join(run.results["target"]["faults"])
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])
