"""`eg-harness bench --workload FILE`: a workload file run as one bench step, and its verdicts.

The same pipeline as a ladder bench (plan -> runner -> summary -> report), with one step made
from the file (plan.workload_step), the kernels the run left on the gateway counted before
teardown, and each objective judged with its confidence interval (workload.judge). Each
objective is a test in results.json, so the report, summary.md and the exit code follow it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from eg_harness.clients.gateway import GatewayClient
from eg_harness.load import summary, workload
from eg_harness.load.bench import _s, run_step
from eg_harness.load.plan import workload_step
from eg_harness.report import charts
from eg_harness.report import writer as report
from eg_harness.report.bench_results import Objective, WorkloadThroughput
from eg_harness.report.model import Results
from eg_harness.runtime import secrets
from eg_harness.targets.base import Target
from rich.console import Console


def run(
    target: Target, wl: workload.Workload, report_dir: Path, run_id: str, progress=print
) -> WorkloadThroughput:
    """Run the workload and write its report; returns the workload's document."""
    target.diagnostics_dir = report_dir / "diagnostics"
    cores = os.cpu_count() or 1
    started = time.time()
    try:
        target.provision(progress)
        step = workload_step(wl, target)
        before = kernel_ids(target)
        load_run, s = run_step(target, step, report_dir / "load", cores, progress)
        after = kernel_ids(target)
    finally:
        cleanup = target.teardown()
    orphans = None if before is None or after is None else len(after - before)
    cells = [e["seconds"] for e in load_run.events if e["phase"] == "cell" and e["ok"]]
    verdicts = workload.judge(
        wl, s.ttfe_samples_s, cells, s.journeys, s.journeys_with_errors, orphans
    )
    doc = WorkloadThroughput(
        schema=summary.SCHEMA,
        workload=wl.model_dump(mode="json"),
        machine={"cores": cores},
        target=target.describe(),
        storms=[],
        churn=None,
        session=s,
        cell_latency_s=summary.pcts(cells),
        orphan_kernels=orphans,
        objectives=[Objective.model_validate(v.model_dump()) for v in verdicts],
        valid=s.valid,
        invalid_reasons=summary.invalid_reasons([s]),
        cleanup=cleanup,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        duration_s=round(time.time() - started, 3),
    )
    results = results_document(doc, run_id, load_run.events)
    diag = report_dir / "diagnostics"
    if diag.is_dir():
        results.diagnostics = [f"diagnostics/{p.name}" for p in sorted(diag.iterdir())]
    report.write_report(report_dir, results, redact=secrets.redact, latest_name="latest-bench")
    print_verdicts(doc)
    print(f"report: {report_dir / 'report.html'}")
    return doc


def kernel_ids(target: Target) -> set[str] | None:
    """The gateway's kernels now; None when it will not list them (EG_LIST_KERNELS off)."""
    gw = target.gateway
    client = GatewayClient(gw.url, gw.token, timeout=30)
    try:
        return {k["id"] for k in client.list_kernels()}
    except Exception:
        return None
    finally:
        client.http.close()


def results_document(t: WorkloadThroughput, run_id: str, events: list[dict]) -> Results:
    """The workload as the harness's results document: each objective a test, the tables and
    the timeline of its events."""
    wl, s = t.workload, t.session
    tests = [
        {
            "nodeid": f"workload::{v.metric}",
            "name": f"{v.label} {v.limit}",
            "suite": "workload",
            "outcome": "passed" if v.met else "failed",
            "message": v.text,
        }
        for v in t.objectives
    ]
    if not t.valid:
        tests.append(
            {
                "nodeid": "workload::generator",
                "name": "load generator kept up",
                "suite": "workload",
                "outcome": "failed",
                "message": "INVALID: " + "; ".join(t.invalid_reasons),
            }
        )

    def ci(v: Objective) -> str:
        if v.low is None:
            return "-"
        fmt = (lambda x: f"{x:.2%}") if v.metric == "error_rate" else (lambda x: f"{x:.2f} s")
        return f"{fmt(v.low)} .. {fmt(v.high)}"

    def measured(v: Objective) -> str:
        m = v.measured
        if m is None:
            return "-"
        if v.metric == "error_rate":
            return f"{m:.2%}"
        return f"{m:.0f}" if v.metric == "orphan_kernels" else f"{m:.2f} s"

    ttfe = s.time_to_first_execute_s
    c = t.cell_latency_s
    tables = [
        {
            "title": f"Objectives of workload {wl['name']!r}",
            "columns": [
                "objective",
                "limit",
                "measured",
                f"{wl['confidence']:.0%} CI",
                "verdict",
                "how sure",
            ],
            "rows": [
                [v.label, v.limit, measured(v), ci(v), "met" if v.met else "NOT MET", v.sure]
                for v in t.objectives
            ],
            "note": "Percentile intervals: bootstrap over the run's sessions (cells); error rate: "
            "exact binomial interval. A verdict follows the measured value; the interval says "
            "whether the run was large enough to be sure.",
        },
        {
            "title": "Workload sessions",
            "columns": ["figure", "value"],
            "rows": [
                ["users / arrival", f"{wl['users']} at {wl['arrival']['rate_per_s']:g}/s"],
                ["duration", f"{wl['duration_s']:g} s"],
                ["sessions (kernels started)", s.journeys],
                ["sessions with an error", s.journeys_with_errors],
                [
                    "errors by kind",
                    ", ".join(f"{k} x{n}" for k, n in s.errors.items()) or "none",
                ],
                ["TTFE p50 / p95 / max", f"{_s(ttfe.p50)} / {_s(ttfe.p95)} / {_s(ttfe.max)}"],
                ["cells run / p50 / p95", f"{c.count} / {_s(c.p50)} / {_s(c.p95)}"],
                ["orphan kernels", "-" if t.orphan_kernels is None else t.orphan_kernels],
                [
                    "generator",
                    ("ok" if s.generator.valid else "BOTTLENECK")
                    + f" ({s.generator.busiest_process_cores or 0:.2f} cores)",
                ],
            ],
        },
    ]
    chart_list = []
    if events:
        chart_list.append(charts.timeline_chart(events, f"Timeline of workload {wl['name']!r}"))
    return Results.produced(
        "bench",
        run_id=run_id,
        started=t.started_at,
        duration_s=t.duration_s,
        command=f"eg-harness bench --workload ({wl['name']})",
        target=t.target,
        cleanup=t.cleanup,
        tests=tests,
        tables=tables,
        charts=chart_list,
        throughput=t,
    )


def print_verdicts(t: WorkloadThroughput) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    for v in t.objectives:
        console.print(("[green]✓[/] " if v.met else "[bold red]✗[/] ") + v.text, highlight=False)
    if not t.valid:
        console.print("[bold red]INVALID:[/] " + "; ".join(t.invalid_reasons))
