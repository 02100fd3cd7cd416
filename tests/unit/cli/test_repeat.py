"""The --repeat table: outcomes read from each run's results.json, tallied per scenario."""

from __future__ import annotations

from eg_harness.cli import repeat
from eg_harness.report.model import Results, TestResult
from eg_harness.targets.spec import TargetSpec


def _results(outcomes: dict[str, tuple[str, str | None]]) -> Results:
    tests = [
        TestResult(
            nodeid=nodeid,
            suite=nodeid.split("/")[1],
            name=nodeid.split("::")[-1],
            outcome=outcome,
            duration_s=1.0,
            message=message,
        )
        for nodeid, (outcome, message) in outcomes.items()
    ]
    return Results(
        run_id="r1", started_at="x", finished_at="y", target={"kind": "local"}, tests=tests
    )


def test_outcomes_from_the_runs_results():
    results = _results(
        {
            "scenarios/auth/test_a.py::test_ok": ("passed", None),
            "scenarios/auth/test_a.py::test_bad": ("failed", "x"),
            "scenarios/auth/test_a.py::test_err": ("error", "setup failed: x"),
            "scenarios/ws/test_p.py::test_slow": ("inconclusive", "INCONCLUSIVE: 2000 of 10000"),
            "scenarios/ws/test_p.py::test_nohub": ("skipped", "needs a hub"),
            "scenarios/ws/test_p.py::test_known_bug": ("xfailed", "relay bug"),
        }
    )
    assert repeat.outcomes_of(results) == {
        "scenarios/auth/test_a.py::test_ok": "passed",
        "scenarios/auth/test_a.py::test_bad": "failed",
        "scenarios/auth/test_a.py::test_err": "failed",
        "scenarios/ws/test_p.py::test_slow": "inconclusive",
        "scenarios/ws/test_p.py::test_nohub": "skipped",
        "scenarios/ws/test_p.py::test_known_bug": "passed",
    }


def test_tally_counts_each_outcome_and_a_missing_scenario_as_failed():
    runs = [
        {"a": "passed", "b": "inconclusive"},
        {"a": "passed", "b": "passed"},
        {"b": "failed"},  # run 3 lost "a" (crashed before it)
    ]
    table = repeat.tally(runs)
    assert table["a"]["passed"] == 2 and table["a"]["failed"] == 1
    assert table["b"]["inconclusive"] == 1 and table["b"]["passed"] == 1
    assert table["b"]["failed"] == 1


def test_render_shows_counts_out_of_n():
    text = repeat.render(repeat.tally([{"x::t": "passed"}, {"x::t": "inconclusive"}]), 2)
    header, _rule, row = text.splitlines()
    assert header.split() == ["scenario", *repeat.OUTCOMES]
    assert row.split() == ["x::t", "1/2", "0/2", "0/2", "1/2"]


def test_child_runs_carry_the_selection_and_their_own_report_dir(tmp_path):
    spec = TargetSpec(faults=("gateway_no_token",), run_id="rid-r1", report_dir=tmp_path / "run-1")
    argv = repeat.child_argv(spec, "auth", "2", ["--", "-k", "token"])
    assert argv[1:4] == ["-m", "eg_harness", "run"]
    assert argv[argv.index("--run-id") : argv.index("--run-id") + 2] == ["--run-id", "rid-r1"]
    assert str(tmp_path / "run-1") in argv
    assert argv[-7:] == ["--local-fault", "gateway_no_token", "-n", "2", "--", "-k", "token"]


def test_cpu_hog_is_stopped_on_error():
    proc = None
    try:
        with repeat.cpu_hog(True) as proc:
            assert proc.poll() is None
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert proc.poll() is not None, "the hog outlived the interrupt"
