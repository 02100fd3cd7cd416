"""Fixtures for the self-tests (tools in selftest_tools.py)."""

from __future__ import annotations

import pytest
from selftest_tools import HarnessRun, leftovers, run_harness


@pytest.fixture
def harness(tmp_path):
    """Run the CLI; afterwards, prove the run left no process behind."""
    runs: list[HarnessRun] = []

    def _run(args: list[str], **kw) -> HarnessRun:
        run = run_harness(args, tmp_path, **kw)
        runs.append(run)
        return run

    yield _run
    for run in runs:
        left = leftovers(run.run_id)
        assert not left, f"run {run.run_id} left processes behind: {left}"
