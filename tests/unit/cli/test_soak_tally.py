"""The soak's plan, table and leftover inventory, without running a stack."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from eg_harness.cli import soak
from eg_harness.errors import ConfigError
from eg_harness.runtime import leftovers


def test_plan_is_replayable_from_its_seed_and_keeps_the_first_run_clean():
    a = soak.plan(20, 6, 4, seed=1234, fault="gateway_no_token")
    assert a == soak.plan(20, 6, 4, seed=1234, fault="gateway_no_token")
    assert a != soak.plan(20, 6, 4, seed=1235, fault="gateway_no_token")
    assert a[0].kind == "clean"
    kinds = [r.kind for r in a]
    assert kinds.count("interrupt") == 6 and kinds.count("fault") == 4
    for r in a:
        if r.kind == "interrupt":
            assert 0 < r.interrupt_fraction < 1
        assert (r.fault is not None) == (r.kind == "fault")


@pytest.mark.parametrize(("runs", "interrupts", "failures"), [(0, 0, 0), (3, 2, 1), (2, -1, 0)])
def test_plan_refuses_what_does_not_fit(runs, interrupts, failures):
    with pytest.raises(ConfigError):
        soak.plan(runs, interrupts, failures, seed=1, fault=None)


def test_default_fault_is_one_the_suite_catches():
    assert soak.default_fault(["auth"]) == "gateway_no_token"
    assert soak.default_fault(["conformance"]) is None


def test_table_totals_every_category():
    results = [
        soak.RunResult(1, "clean", "r1", 0, 30.0),
        soak.RunResult(
            2,
            "interrupt",
            "r2",
            130,
            9.0,
            interrupted_at_s=8.5,
            left={"processes": ["1 x", "2 y"], "dirs": ["/tmp/d"]},
        ),
        soak.RunResult(3, "interrupt", "r3", 0, 31.0),
        soak.RunResult(4, "fault", "r4", 1, 32.0, stuck=True, left={"ports": ["127.0.0.1:1"]}),
        soak.RunResult(5, "clean", "r5", 1, 0.2, broken="no results.json"),
    ]
    text = soak.render(results)
    lines = text.splitlines()
    assert "Ctrl-C at 8.5s" in text and "finished before Ctrl-C" in text and "STUCK" in text
    assert "BROKEN" in text
    total = lines[-1].split()
    assert total[0] == "all" and total[1:] == ["2", "1", "1", "0", "0", "0"]


def test_leftovers_of_a_run_find_its_dirs_and_nothing_else():
    run_id = "unit-" + uuid.uuid4().hex[:8]
    assert leftovers.of_run(run_id).total == 0
    d = Path(tempfile.mkdtemp(prefix=f"eg-harness-{run_id}-"))
    try:
        found = leftovers.of_run(run_id)
        assert found.dirs == [str(d)] and found.counts()["dirs"] == 1 and found.total == 1
    finally:
        d.rmdir()


def test_endpoint_ports_are_local_ones_only():
    got = leftovers.ports_of(
        {"gateway": "http://127.0.0.1:8888", "hub": "http://example.org:8000", "x": "nonsense"}
    )
    assert got == [8888]


def test_a_run_that_never_got_going_is_broken(tmp_path):
    never = soak.RunResult(3, "clean", "r", 1, 0.1)
    assert soak._broken(never, tmp_path) == "no results.json (see the run's log)"
    (tmp_path / "results.json").write_text("{}")
    assert soak._broken(never, tmp_path) == ""
    assert soak._broken(soak.RunResult(3, "clean", "r", 2, 0.1), tmp_path) == "exit 2"
    cut = soak.RunResult(4, "interrupt", "r", 130, 5.0, interrupted_at_s=4.0)
    assert soak._broken(cut, tmp_path / "nothing") == ""


def test_each_run_is_an_eg_harness_run_with_its_own_id_and_fault(tmp_path):
    import argparse

    args = argparse.Namespace(
        target="local", suite="auth", target_config=None, pytest_args=["--", "-k", "x"]
    )
    argv = soak._child_argv(args, "soak-s2", tmp_path / "run-2", "gateway_no_token")
    assert argv[1:4] == ["-m", "eg_harness", "run"]
    assert argv[argv.index("--run-id") : argv.index("--run-id") + 2] == ["--run-id", "soak-s2"]
    assert "--local-fault" in argv and "gateway_no_token" in argv
    assert argv[-3:] == ["--", "-k", "x"] and "-n" not in argv


def test_a_ctrl_c_after_the_run_finished_is_late_and_only_then():
    """Interrupt moments come from the first run's length; a faster run may have finished its
    work (a verdict) when the Ctrl-C lands. That proves nothing about an interrupted run, so
    the soak tries again earlier (seen: a run of 5.5 s after a first run of 9.7 s)."""

    def run(kind="interrupt", at=4.8, exit_code=0, stuck=False):
        return soak.RunResult(2, kind, "r", exit_code, 5.5, interrupted_at_s=at, stuck=stuck)

    assert soak._came_late(run())
    assert soak._came_late(run(exit_code=1))
    assert not soak._came_late(run(exit_code=130))  # interrupted mid-run, as planned
    assert not soak._came_late(run(stuck=True))  # did not stop: a finding, never retried
    assert soak._came_late(run(at=None))  # finished before its moment: no Ctrl-C was sent
    assert not soak._came_late(run(kind="clean"))
    late = run(exit_code=130)
    late.late_interrupts = 1
    assert "Ctrl-C at 4.8s (1 late)" in soak.render([late])
