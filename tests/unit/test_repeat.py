"""The --repeat table: outcomes read from junit XML, tallied per scenario across runs."""

from __future__ import annotations

import argparse

from eg_harness.cli import repeat

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="auth.test_a" name="test_ok" time="1.0"/>
  <testcase classname="auth.test_a" name="test_bad"><failure message="x">t</failure></testcase>
  <testcase classname="auth.test_a" name="test_err"><error message="setup">t</error></testcase>
  <testcase classname="ws.test_p" name="test_slow" time="1.0">
    <skipped type="pytest.skip" message="INCONCLUSIVE: 2000 of 10000 still arriving">x</skipped>
  </testcase>
  <testcase classname="ws.test_p" name="test_nohub" time="0.0">
    <skipped type="pytest.skip" message="needs a hub">x</skipped>
  </testcase>
  <testcase classname="ws.test_p" name="test_known_bug" time="1.0">
    <skipped type="pytest.xfail" message="relay bug">x</skipped>
  </testcase>
</testsuite></testsuites>
"""


def test_outcomes_from_junit():
    assert repeat.outcomes_from_junit(JUNIT) == {
        "auth.test_a::test_ok": "passed",
        "auth.test_a::test_bad": "failed",
        "auth.test_a::test_err": "failed",
        "ws.test_p::test_slow": "inconclusive",
        "ws.test_p::test_nohub": "skipped",
        "ws.test_p::test_known_bug": "passed",
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
    args = argparse.Namespace(
        target="local",
        suite="auth",
        target_config=None,
        local_fault=["gateway_no_token"],
        allow_destructive=False,
        pytest_args=["--", "-k", "token"],
    )
    argv = repeat._child_argv(args, "rid-r1", tmp_path / "run-1")
    assert argv[1:4] == ["-m", "eg_harness", "run"]
    assert argv[argv.index("--run-id") : argv.index("--run-id") + 2] == ["--run-id", "rid-r1"]
    assert str(tmp_path / "run-1") in argv
    assert argv[-5:] == ["--local-fault", "gateway_no_token", "--", "-k", "token"]


def test_cpu_hog_is_stopped_on_error():
    proc = None
    try:
        with repeat.cpu_hog(True) as proc:
            assert proc.poll() is None
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert proc.poll() is not None, "the hog outlived the interrupt"
