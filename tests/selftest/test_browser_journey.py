"""The browser suite passes on the correct local target (the positive half of its three negative
twins): every step of the journey is a timed phase in results.json, the figures print, and a
passing journey leaves no screenshot behind."""

from __future__ import annotations

import pytest
from eg_harness.browser import chromium, figures, lab

pytestmark = [pytest.mark.slow, pytest.mark.long]

STEPS = (
    "login", "spawn_form", "lab_loads", "launcher", "notebook_create", "kernel_idle", "execute",
    "error_output", "rich_output", "interrupt", "restart", "after_restart", "shutdown",
    "new_launcher", "second_notebook_create", "second_kernel_idle", "stop_server",
)  # fmt: skip


def test_the_journey_passes_and_every_step_is_a_phase(harness):
    reason = chromium.unavailable()
    if reason:
        pytest.skip(reason)
    run = harness(["run", "--suite", "browser"], timeout=600)
    assert run.returncode == 0, run.explain()
    res = run.results
    assert [t["outcome"] for t in run.outcome("test_user_journey_in_lab")] == ["passed"]
    phases = [m["attrs"]["phase"] for m in res["metrics"] if m["name"] == "browser_phase"]
    assert set(phases) >= set(STEPS), sorted(set(STEPS) - set(phases))
    figs = figures.figures(res)
    assert figs["user"][lab.LOGIN_TO_LAB]["n"] == 1
    assert figs["user"][lab.OPEN_TO_IDLE]["n"] == 2  # both notebooks
    assert figs["user"][lab.EXECUTE_TO_OUTPUT]["n"] == 5
    assert figs["api"]["kernel requested -> first execute reply (hub)"]["n"] == 1
    diag = run.report_dir / "diagnostics"
    shots = sorted(p.name for p in diag.glob("browser-*")) if diag.is_dir() else []
    assert not shots, f"a passing journey left failure diagnostics: {shots}"
