"""`eg-harness soak`: three short runs, one of them Ctrl-C'd mid-way, and nothing left after any.

The soak's own count is checked against the self-tests' independent one (selftest_tools), so a
soak that counted nothing could not pass. Costs about three stack start-ups (~40 s warm).
"""

from __future__ import annotations

import json

import pytest
from selftest_tools import leftovers

pytestmark = pytest.mark.slow

# Seed 6 plans the Ctrl-C for run 2, at 0.49 of the first run's wall time: mid-run.
SEED = "6"


def test_soak_of_three_runs_with_an_interrupt_leaves_nothing(harness, tmp_path):
    out = tmp_path / "soak"
    run = harness(
        [
            "soak",
            "--runs",
            "3",
            "--suite",
            "auth",
            "--interrupts",
            "1",
            "--failures",
            "0",
            "--seed",
            SEED,
            "--report-dir",
            str(out),
            "--",
            "-k",
            "wrong_credentials_refused and kernelspecs",
        ],
        timeout=600,
    )
    assert run.returncode == 0, run.explain()
    assert f"seed {SEED}" in run.stdout and "(replay with --seed 6)" in run.stdout
    doc = json.loads((out / "soak.json").read_text())
    assert doc["seed"] == int(SEED) and doc["leftovers"] == 0 and doc["stuck"] == 0
    assert doc["broken"] == 0
    runs = doc["runs"]
    assert [r["kind"] for r in runs] == ["clean", "interrupt", "clean"]
    assert runs[0]["exit_code"] == 0 and runs[2]["exit_code"] == 0, runs
    cut = runs[1]
    assert cut["interrupted_at_s"] is not None and cut["exit_code"] == 130, cut
    for r in runs:
        assert r["leftovers"] == 0, r
        assert not leftovers(r["run_id"]), r["run_id"]
        assert (out / f"run-{r['index']}.log").is_file()
    table = (out / "soak.txt").read_text()
    assert "Ctrl-C at" in table and table.splitlines()[-1].split()[1:] == ["0"] * 6
