"""Load machinery: a small launch storm and a churn with two locust workers, end to end.

These check that the journeys, locust, the per-phase events and the CPU accounting all work
and that nothing is left behind; they assert no absolute times (that is `eg-harness bench`'s
job, with figures and a gate, on a quiet machine). A storm that meets errors fails here, so a
kernel limit or a broken gateway can never pass as "fast".
"""

from __future__ import annotations

import os

import pytest
from eg_harness.fixtures.abilities import require
from eg_harness.load import runner
from eg_harness.load.journeys import GATEWAY_PHASES, TTFE
from eg_harness.load.plan import Step, storm_cap
from eg_harness.load.summary import summarise
from eg_harness.report import charts
from eg_harness.report.bench_results import Level
from eg_harness.runtime.text import clip
from eg_harness.targets.abilities import ProcessView

STORM = int(os.environ.get("EG_HARNESS_CI_STORM", "3"))
# Accounts CPU and checks the generator's processes: in a parallel run it runs alone.
pytestmark = pytest.mark.serial


def _record(run_state, name: str, summary: Level) -> None:
    t = summary.time_to_first_execute_s
    run_state.throughput[name] = summary.model_dump(mode="json")
    run_state.table_row(
        "Load runs (machinery check; figures come from `eg-harness bench`)",
        [
            "run",
            "ok / journeys",
            "TTFE p50 (s)",
            "TTFE p95 (s)",
            "starts/s",
            "CPU s/start",
            "errors",
            "generator busiest (cores)",
        ],
        [
            name,
            f"{summary.ok} / {summary.journeys}",
            t.p50,
            t.p95,
            summary.starts_per_s,
            summary.cpu_s_per_start,
            ", ".join(f"{k} x{v}" for k, v in summary.errors.items()) or "none",
            summary.generator.busiest_process_cores,
        ],
    )


def _problems(summary: Level, expected_journeys: int | None) -> list[str]:
    problems = [
        f"{kind} x{n} (e.g. {clip(summary.error_examples.get(kind, ''), 200)})"
        for kind, n in summary.errors.items()
    ]
    if expected_journeys is not None and summary.ok != expected_journeys:
        problems.append(
            f"only {summary.ok} of {expected_journeys} journeys reached their first execute"
        )
    problems += summary.notes
    return problems


def test_storm_reaches_first_execute_for_every_user(target, gateway, run_state, tmp_path):
    # Only the storm's own kernels count as its leftovers: an earlier scenario's kernel that is
    # still shutting down is not the storm's to answer for (the session's sweep covers it).
    listed = target.capabilities.list_kernels
    before = {k["id"] for k in gateway.list_kernels()} if listed else set()
    step = Step("storm", STORM, storm_cap(target), kernelspec=target.gateway.kernelspec)
    run = runner.run(target, step, tmp_path / "storm")
    summary = summarise(run, os.cpu_count() or 1)
    _record(run_state, f"storm of {STORM}", summary)
    if run.events:
        run_state.charts.append(charts.timeline_chart(run.events, f"Storm of {STORM}"))
    problems = _problems(summary, STORM)
    assert not problems, f"storm of {STORM} concurrent kernel starts: " + "; ".join(problems)
    # Every journey reported every phase: the per-phase figures are complete.
    for journey in {e["journey"] for e in run.events}:
        phases = {e["phase"] for e in run.events if e["journey"] == journey}
        assert set(GATEWAY_PHASES) | {TTFE} <= phases, f"journey {journey} reported {phases}"
    assert (tmp_path / "storm" / "locust_stats.csv").is_file(), "locust wrote no CSV stats"
    if target.ability(ProcessView) is not None:
        assert summary.cpu_s_per_start, "no CPU accounting for the kernel starts"
    assert summary.generator.valid, (
        f"the load generator was the bottleneck: {summary.generator.model_dump()}"
    )
    if listed:
        left = [k["id"] for k in gateway.list_kernels() if k["id"] not in before]
        assert not left, f"the storm left kernels on the gateway: {left}"


def test_churn_runs_on_two_locust_workers(target, run_state, tmp_path):
    """Locust's master/worker mode, as used for load from several processes or machines."""
    require(target, ProcessView, "worker processes are checked on the local target")
    step = Step("churn", 2, 6, kernelspec=target.gateway.kernelspec, workers=2)
    run = runner.run(target, step, tmp_path / "churn")
    summary = summarise(run, os.cpu_count() or 1)
    _record(run_state, "churn, 2 users on 2 workers", summary)
    # This checks the master/worker machinery, so it tolerates the rare kernel that EG 3.3
    # loses to the port race of concurrent launches (about 1 start in 500 here; `bench` tables
    # it); more than that is a real problem. The storm above tolerates nothing.
    failed_share = summary.failed / max(summary.journeys, 1)
    assert failed_share <= 0.1, "churn on two workers: " + "; ".join(_problems(summary, None))
    producers = [
        f for f in (tmp_path / "churn" / "events").glob("events-*.jsonl") if f.read_text().strip()
    ]
    assert len(producers) == 2, f"expected journeys from 2 worker processes, got {producers}"
    assert summary.ok >= 2, f"only {summary.ok} journeys completed in 6 s"
