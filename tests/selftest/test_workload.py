"""`eg-harness bench --workload` end to end on the local target.

The quick example must be met by a correct local stack; its negative twin is the same file
against a gateway that allows two kernels (gateway_max_kernels): four users holding their
kernels for the whole event cannot all get one, so the error-rate objective must fail, naming
the measured rate and its interval. The event is cut from the example's 30 s to 12 s (every
other key as written): four users still arrive, work through cells and hold their kernels.
Cost: about a minute and a half (two workloads of 12 s plus provisioning).
"""

from __future__ import annotations

import pytest
from eg_harness import resources

pytestmark = pytest.mark.slow

EXAMPLE = resources.CLUSTERS / "examples" / "workload-quick.yaml"


@pytest.fixture
def quick(tmp_path) -> str:
    """The quick example with a 12 s event."""
    text = EXAMPLE.read_text()
    assert "\nduration_s: 30 " in text, "the example's duration line changed: update this fixture"
    path = tmp_path / "workload-quick-12s.yaml"
    path.write_text(text.replace("\nduration_s: 30 ", "\nduration_s: 12 "))
    return str(path)


def test_quick_workload_is_met_by_a_correct_stack(harness, quick):
    run = harness(["bench", "--workload", quick], timeout=600)
    assert run.returncode == 0, run.explain()
    res = run.results
    tests = {t["nodeid"]: t for t in res["tests"]}
    assert set(tests) == {
        "workload::p95_time_to_first_execute_s",
        "workload::p95_cell_latency_s",
        "workload::error_rate",
        "workload::orphan_kernels",
    }
    assert {t["outcome"] for t in tests.values()} == {"passed"}, tests
    doc = res["throughput"]
    session = doc["session"]
    # Four users arrived; each ran cells after its first execute, with output checked.
    assert session["journeys"] >= 4 and session["journeys_with_errors"] == 0, session
    assert doc["cell_latency_s"]["count"] >= 4, doc["cell_latency_s"]
    assert doc["orphan_kernels"] == 0
    p95 = next(v for v in doc["objectives"] if v["metric"] == "p95_time_to_first_execute_s")
    assert p95["low"] <= p95["measured"] <= p95["high"], p95
    assert "95% CI" in tests["workload::p95_time_to_first_execute_s"]["message"]
    assert any(t["title"].startswith("Objectives of workload") for t in res["tables"])
    assert "all 4 objectives met" in run.stdout


def test_a_kernel_limit_fails_the_error_rate_objective(harness, quick):
    run = harness(
        ["bench", "--workload", quick, "--local-fault", "gateway_max_kernels"], timeout=600
    )
    assert run.returncode == 1, run.explain()
    tests = {t["nodeid"]: t for t in run.results["tests"]}
    err = tests["workload::error_rate"]
    assert err["outcome"] == "failed", err
    assert "error rate <= 0.10%: NOT MET" in err["message"] and "CI" in err["message"]
    errors = run.results["throughput"]["session"]["errors"]
    assert any(k.startswith("start_kernel: HTTP") for k in errors), errors
    assert "OBJECTIVES NOT MET" in run.stdout
