"""No secret the run knows appears in the report directory, component logs included.

The harness generates every local token and reads an existing target's from its config;
all are registered for redaction. This checks the files the run has written so far, with the
component logs collected now; the plugin re-checks the finished report at the end of the run.
"""

from __future__ import annotations

import pytest
from eg_harness.report.scan import scan_for_secrets
from eg_harness.runtime import secrets


def test_no_token_in_report_dir(target, run_state):
    """No registered secret appears in any file written under the report directory."""
    state = run_state
    if state.report_dir is None:
        pytest.skip("this run writes no report (pass --eg-report-dir)")
    known = secrets.known()
    assert known, "the run registered no secrets, so redaction cannot be checked"
    target.collect_diagnostics(state.report_dir / "diagnostics")
    leaks = scan_for_secrets(state.report_dir, known)
    assert not leaks, f"secrets found in report files: {[str(p) for p, _ in leaks]}"
