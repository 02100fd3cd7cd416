"""A parallel run (`eg-harness run -n 2`) against a stack with a seeded fault: one stack for
both workers, the fault's failure in the one merged report, and the five artifacts counting
alike. One run answers all three (about a minute on the 2-core machine).
"""

from __future__ import annotations

import pytest
from eg_harness.targets.faults import FAULTS
from selftest_tools import assert_five_artifacts_count_alike

pytestmark = pytest.mark.slow

FAULT = "gateway_no_token"


def test_parallel_run_shares_one_stack_and_reports_the_seeded_fault_once(harness):
    (catch,) = FAULTS[FAULT].caught_by
    run = harness(
        [
            "run",
            "--suite",
            "auth,conformance",
            "-n",
            "2",
            "--local-fault",
            FAULT,
            "--",
            "-k",
            f"{catch.select} or TestKernelProtocolThroughGateway",
        ],
        timeout=900,
    )
    assert run.returncode == 1, run.explain()
    assert "2 workers" in run.stdout, run.explain()
    res = run.results

    # One stack: provisioned and torn down once, by the controller, for both workers.
    names = [s["name"] for s in res["spans"]]
    assert names.count("target_provision") == 1 and names.count("target_teardown") == 1, names
    assert {"name": "xdist_workers", "value": 2.0, "unit": "processes", "attrs": {}} in res[
        "metrics"
    ]
    assert FAULT in res["target"]["faults"]
    assert sorted(p.name for p in (run.report_dir / "diagnostics").glob("gateway*.log")) == [
        "gateway.log"
    ]
    # Both workers ran tests, and their kernel starts are in the one report.
    starts = [s for s in res["spans"] if s["name"] == "kernel_start" and s["ok"]]
    assert starts, names

    # The fault fails its scenario, with its words, in the merged report...
    failed = [t for t in res["tests"] if t["outcome"] == "failed"]
    assert failed and all(catch.test in t["nodeid"] for t in failed), failed
    for word in catch.words:
        assert all(word in t["message"] for t in failed), (word, failed[0]["message"])
    # ...while the conformance suite's tests (and sub-tests) pass beside it.
    conformance = [t for t in res["tests"] if t["suite"] == "conformance"]
    assert conformance and all(t["outcome"] == "passed" for t in conformance), conformance
    summary = assert_five_artifacts_count_alike(run)
    assert summary["failed"] == len(failed) and summary["subtests"]["total"] > 0
    assert catch.words[0] in (run.report_dir / "report.html").read_text()
    assert not any(res["cleanup"].get(k) for k in res["cleanup"]), res["cleanup"]
