"""`eg-harness bench --repeat`, `baseline` and the noise-aware `gate` end to end on the local
target.

The gate's negative twin: a gateway whose kernel starts are held 1.5 s must fail a gate computed
against a repeated baseline from a normal run, naming the figure that regressed and how sure it
is; a second normal run passes the same gate with the default thresholds. Nothing is loosened
for this busy machine: the gate only calls a regression when the bootstrap interval of the
change, from the runs' own repeats, lies wholly past the threshold. A max-kernels limit must
show up as errors, never as a pass. Cost: about a minute on a quiet machine (three benches,
each a warm-up and 5 storms of 2).
"""

from __future__ import annotations

import subprocess

import pytest
from selftest_tools import REPO, _env, harness_cmd

pytestmark = pytest.mark.slow

# One level, five repeats: the gate's power comes from repeats, not from a loose threshold.
REPEATED = ["--ladder", "2", "--churn-users", "0", "--repeat", "5"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*harness_cmd(), *args], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120
    )


# The gate compares timings of three benches: in a parallel `./dev test` it runs alone. The
# kernel-limit bench below judges counts (errors, the knee), not times: it runs beside others.
@pytest.mark.serial
def test_gate_fails_a_held_start_and_passes_two_normal_runs(harness, tmp_path):
    history = str(tmp_path / "history.jsonl")
    normal = harness(["bench", *REPEATED, "--history", history], timeout=900)
    assert normal.returncode == 0, normal.explain()
    res = normal.results
    # Gateway journeys: the local stack is the gateway alone (no idle hub beside the figures).
    assert "hub" not in res["target"]["endpoints"], res["target"]
    assert {t["outcome"] for t in res["tests"]} == {"passed"}, res["tests"]
    assert len(res["charts"]) >= 3, [c["title"] for c in res["charts"]]
    assert res["throughput"]["ceiling"]["measured"], res["throughput"]["ceiling"]
    assert (normal.report_dir / "load" / "storm-002-r5" / "locust_stats.csv").is_file()
    assert (normal.report_dir / "load" / "warmup" / "locust_stats.csv").is_file()
    assert "Launch throughput" in normal.stdout and "knee:" in normal.stdout
    [storm2] = res["throughput"]["storms"]
    # Five repeats pooled: ten journeys (the warm-up not among them), and each repeat's own
    # figures kept for the spread.
    assert storm2["repeats"] == 5 and storm2["journeys"] == 10, storm2
    assert len(storm2["per_repeat"]["p95_ttfe_s"]) == 5 and len(storm2["ttfe_samples_s"]) == 10
    assert any(t["title"].startswith("Per-repeat figures") for t in res["tables"])

    baseline = tmp_path / "baseline.json"
    made = _cli("baseline", "--from", str(normal.report_dir), "--out", str(baseline))
    assert made.returncode == 0 and baseline.is_file(), made.stdout + made.stderr

    again = harness(["bench", *REPEATED, "--history", history], timeout=900)
    assert again.returncode == 0, again.explain()
    same = _cli("gate", "--baseline", str(baseline), "--current", str(again.report_dir))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "gate passed" in same.stdout and "noise unknown" not in same.stdout, same.stdout
    # Two runs in the history: the trend chart appears.
    assert any(c["title"].startswith("Trend") for c in again.results["charts"])

    slow = harness(
        ["bench", *REPEATED, "--history", "", "--local-fault", "gateway_slow_start"], timeout=900
    )
    assert slow.returncode == 0, slow.explain()
    gated = _cli("gate", "--baseline", str(baseline), "--current", str(slow.report_dir))
    assert gated.returncode == 1, gated.stdout + gated.stderr
    # The verdict line names the time figure that regressed, and says how sure it is.
    [verdict] = [line for line in gated.stdout.splitlines() if line.startswith("REGRESSION")]
    assert "time to first execute" in verdict, gated.stdout
    assert "the whole interval is past the limit" in verdict, gated.stdout


def test_a_kernel_limit_shows_up_as_errors_never_as_a_pass(harness, tmp_path):
    run = harness(
        [
            "bench",
            "--ladder",
            "1,4",
            "--churn-users",
            "0",
            "--history",
            "",
            "--local-fault",
            "gateway_max_kernels",
        ],
        timeout=600,
    )
    assert run.returncode == 1, run.explain()
    storms = {s["concurrency"]: s for s in run.results["throughput"]["storms"]}
    assert storms[1]["failed"] == 0
    # Two too many: refused with 403, or with EG 3.3's 500 race (scenarios/throughput).
    errors = storms[4]["errors"]
    assert set(errors) <= {"start_kernel: HTTP 403", "start_kernel: HTTP 500"}, errors
    assert sum(errors.values()) >= 2 and storms[4]["failed"] >= 2, storms[4]
    assert "errors start at 4" in run.results["throughput"]["knee"]["reason"]
    failed = [t for t in run.results["tests"] if t["outcome"] == "failed"]
    assert [t["name"] for t in failed] == ["storm 4"], failed
    assert "start_kernel: HTTP" in failed[0]["message"]
