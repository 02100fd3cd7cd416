"""Launch-throughput benchmark, as one pipeline: plan -> run each step -> summarise -> render.

A bench provisions the target, plans its steps (storms up the concurrency ladder, then a
churn), runs each through locust while both CPU clocks are measured (runner.py, cpu.py), turns
the phase events into figures (summary.py: percentiles, knee, ceiling, validity), tears the
target down, and renders the figures: history, tables and charts for the report, the console
table. Each stage lives in its own module; this one only strings them together and renders.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from eg_harness.load import clustercost, logscan, runner, servers, summary
from eg_harness.load.bench_sessions import servers_table
from eg_harness.load.plan import BenchSettings, Step, plan, resolved_kernelspec
from eg_harness.report import charts
from eg_harness.report import writer as report
from eg_harness.report.bench_results import BenchThroughput, HistoryEntry, Level, PortRace
from eg_harness.report.model import Results, ServerMetrics, Table
from eg_harness.runtime import secrets
from eg_harness.runtime.text import clip
from eg_harness.targets.base import Target
from eg_harness.targets.node.figures import cluster_finder
from rich.console import Console
from rich.table import Table as RichTable


def bench(
    target: Target,
    settings: BenchSettings,
    report_dir: Path,
    run_id: str,
    history: Path | None,
    progress=print,
) -> Results:
    """Run the whole bench and write its report; returns the report (its verdict is the
    bench's one judgement: the CLI prints and exits with it)."""
    target.diagnostics_dir = report_dir / "diagnostics"  # component and kernel logs
    cores = os.cpu_count() or 1
    started = time.time()
    rounds: list[list[tuple[runner.LoadRun, Level]]] = []
    summaries: list[Level] = []
    try:
        target.provision(progress)
        steps = plan(settings, target)
        kernelspec = resolved_kernelspec(settings, target)
        find = cluster_finder(target)
        cluster = clustercost.ClusterSampler(find) if find is not None else None
        with (
            servers.ServerSampler(target, spawn_limit=settings.spawn_limit) as sampler,
            cluster or contextlib.nullcontext(),
        ):
            if settings.repeat > 1:
                warm_up(target, steps[0], report_dir / "load", progress)
            for r in range(1, settings.repeat + 1):
                if settings.repeat > 1:
                    progress(f"repeat {r}/{settings.repeat}")
                tag = f"-r{r}" if settings.repeat > 1 else ""
                rounds.append(
                    [
                        run_step(
                            target,
                            s,
                            report_dir / "load",
                            cores,
                            progress,
                            settings.spawn_limit,
                            tag,
                            cluster,
                        )
                        for s in steps
                    ]
                )
            summaries = pooled(rounds, cores)
        server_metrics = sampler.result()  # typed; goes to results, not the history
        if cluster is not None:
            cluster.save(report_dir / "diagnostics" / "cluster-samples.jsonl")
        sampler.save_last_scrape(report_dir / "diagnostics")
        target_facts = target.describe()
    finally:
        cleanup = target.teardown()  # copies the component logs into diagnostics/
    if summaries:
        explain_port_race(summaries, rounds, report_dir / "diagnostics" / "gateway.log")
    doc = summary.document(settings, kernelspec, cores, target_facts, summaries)
    if settings.repeat > 1:
        doc.rounds = [[s for _run, s in one] for one in rounds]
    doc.cleanup = cleanup
    doc.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    doc.duration_s = round(time.time() - started, 3)
    # The timeline shows the last repeat of each storm, not every repeat overlaid.
    events = [run.events for run, s in rounds[-1] if s.mode == "storm"]
    return render(doc, server_metrics, events, run_id, report_dir, history, progress)


def warm_up(target: Target, first: Step, load_dir: Path, progress=print) -> None:
    """One unmeasured journey before repeated rounds: the gateway's first kernel start pays for
    cold imports and caches, which would make the first repeat an outlier of its own and widen
    every interval the gate and the diff draw from the repeats."""
    step = Step("storm", 1, first.seconds, first.journey, first.kernelspec)
    run = runner.run(target, step, load_dir / "warmup", progress)
    if not any(e["phase"] == summary.TTFE for e in run.events):
        progress("warm-up journey did not reach its first execute (the rounds will tell)")


def pooled(rounds: list[list[tuple[runner.LoadRun, Level]]], cores: int) -> list[Level]:
    """Each step's summary; with repeats, each step's rounds pooled into one (summary.pool)."""
    if len(rounds) == 1:
        return [s for _run, s in rounds[0]]
    return [
        summary.pool([one[i][0] for one in rounds], [one[i][1] for one in rounds], cores)
        for i in range(len(rounds[0]))
    ]


def explain_port_race(
    summaries: list[Level], rounds: list[list[tuple[runner.LoadRun, Level]]], log: Path
) -> None:
    """Mark each step's journeys that failed on a kernel dying in EG's port race (read from
    the gateway's log, as bench-ws does): counted apart with their cause, not as failures.
    The embedded stack still produces the race (its python3 kernels take the ports EG picks);
    see logscan.port_race_journeys for why it is excused and when it is not."""
    for i, s in enumerate(summaries):
        events = [e for one in rounds for e in one[i][0].events]
        race = logscan.port_race_journeys(events, log)
        s.port_race = PortRace(journeys=len(race), kernels=sorted(set(race.values())))
        excused: dict[str, int] = {}
        for e in events:
            if e["journey"] in race and not e["ok"]:
                key = f"{e['phase']}: {e['error_kind']}"
                excused[key] = excused.get(key, 0) + 1
        s.errors_port_race = excused


def run_step(
    target: Target,
    step: Step,
    load_dir: Path,
    cores: int,
    progress=print,
    spawn_limit: int | None = None,
    tag: str = "",
    cluster: clustercost.ClusterSampler | None = None,
) -> tuple[runner.LoadRun, Level]:
    """One storm or churn through locust, summarised, with its figures said as it ends; with a
    cluster sampler, the cluster's memory and CPU over the step's wall time."""
    t0 = time.time()
    run = runner.run(target, step, load_dir / (step.name + tag), progress)
    t1 = time.time()
    s = summary.summarise(run, cores)
    if cluster is not None:
        s.cluster = c = cluster.usage((t0, t1))
        if c is not None:
            progress(
                f"cluster: {c.cpu_s:.1f} CPU-s ({c.cpu_cores_mean or 0:.2f} cores) over "
                f"{c.window_s:.0f}s, peak {c.rss_mib_peak:.0f} MiB RSS in {c.processes_peak} "
                "processes"
            )
    if step.journey == "hub":
        s.spawns = sp = summary.spawn_concurrency(run.events, spawn_limit)
        progress(
            f"hub spawns: {sp.accepted} accepted, at most {sp.max_in_flight} in flight, "
            f"{sp.throttled} refused with 429"
            + ("" if sp.limit is None else f" (concurrent_spawn_limit {sp.limit})")
        )
    if step.mode == "storm":
        t = s.time_to_first_execute_s
        progress(
            f"storm {step.users}: {s.ok}/{s.journeys} ok, time-to-first-execute p50 "
            f"{_s(t.p50)} p95 {_s(t.p95)} max {_s(t.max)}, "
            f"{s.starts_per_s:.2f} starts/s" + ("" if s.valid else " (INVALID)")
        )
    else:
        progress(f"{step.mode}: {s.ok} journeys, {s.starts_per_s:.2f} starts/s")
    return run, s


def render(
    doc: BenchThroughput,
    server_metrics: ServerMetrics | None,
    storm_events: list[list[dict]],
    run_id: str,
    report_dir: Path,
    history: Path | None,
    progress=print,
) -> Results:
    """The history line, the report (results.json, report.html, latest-bench), the console."""
    if history is not None:
        summary.append_history(history, doc, run_id)
    results = results_document(
        doc,
        run_id,
        summary.read_history(history) if history else [],
        server_metrics=server_metrics,
        storm_events=storm_events,
    )
    diag = report_dir / "diagnostics"
    if diag.is_dir():
        results.diagnostics = [f"diagnostics/{p.name}" for p in sorted(diag.iterdir())]
        found = logscan.log_findings(diag / "gateway.log")
        if found:
            results.tables.append(
                Table(
                    title="Known failure signatures in the gateway log",
                    columns=["signature", "count", "what it means"],
                    rows=found,
                )
            )
            for sig, count, _meaning in found:
                progress(f"gateway log: {count} x {sig!r}")
    for s in doc.levels():
        if s.race_journeys:
            progress(f"{s.mode} {s.concurrency}: {port_race_note(s)}")
    # A bench has its own "latest", so `latest` keeps pointing at the last suite run.
    report.write_report(report_dir, results, redact=secrets.redact, latest_name="latest-bench")
    print_bench(doc)
    print(f"report: {report_dir / 'report.html'}")
    return results


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


# -- report -----------------------------------------------------------------------------------
STORM_COLUMNS = [
    "concurrency",
    "ok / journeys",
    "TTFE p50",
    "p95",
    "p99",
    "max",
    "starts/s",
    "CPU s/start",
    "ceiling fraction",
    "errors",
    "generator",
]


def _row(s: Level) -> list[Any]:
    t = s.time_to_first_execute_s
    gen = s.generator
    return [
        s.concurrency if s.mode == "storm" else f"churn x{s.concurrency}",
        f"{s.ok} / {s.journeys}",
        _s(t.p50),
        _s(t.p95),
        _s(t.p99),
        _s(t.max),
        f"{s.starts_per_s:.2f}",
        "-" if s.cpu_s_per_start is None else f"{s.cpu_s_per_start:.2f}",
        "-" if s.ceiling_fraction is None else f"{s.ceiling_fraction:.0%}",
        (", ".join(f"{k} x{v}" for k, v in s.errors.items()) or "none")
        + (f" ({r} port race)" if (r := s.race_journeys) else ""),
        ("ok" if gen.valid else "BOTTLENECK") + f" ({gen.busiest_process_cores or 0:.2f} cores)",
    ]


def port_race_note(s: Level) -> str:
    """What a step's port-race journeys were, in words, for its test message and the console."""
    race = s.port_race or PortRace()
    return (
        f"{race.journeys} of {s.journeys} journeys failed on a kernel that died in EG's "
        'port race (gateway log: "Address already in use", the kernel relaunched on the same '
        "ports), counted apart: a known upstream defect of local launches, where concurrent "
        "starts draw the same port from EG_PORT_RANGE; Kubernetes kernels bind their own "
        f"ports in their own pods (kernels: {', '.join(k[:8] for k in race.kernels)})"
    )


def level_test(s: Level) -> dict[str, Any]:
    """A storm or the churn as a test of the report: it fails on any error the port race does
    not explain, on figures its generator made invalid, and on a hub past its spawn limit."""
    name = f"{s.mode} {s.concurrency}"
    unexplained = s.unexplained_errors()
    bad = [f"{k} x{v}: {clip(s.error_examples.get(k, ''), 300)}" for k, v in unexplained.items()]
    race = s.race_journeys
    failed = s.failed - race
    if not s.valid:
        bad.append(
            "INVALID: the load generator was the bottleneck"
            if not s.generator.valid
            else "INVALID: " + "; ".join(s.notes)
        )
    if failed > 0 and not unexplained:
        bad.append(f"{failed} journeys never reported")
    sp = s.spawns
    if sp is not None and sp.respected is False:
        bad.append(
            f"the hub had {sp.max_in_flight} spawns in flight at once, past its "
            f"concurrent_spawn_limit of {sp.limit}"
        )
    return {
        "nodeid": f"bench::{name}",
        "name": name,
        "suite": "throughput",
        "outcome": "failed" if bad else "passed",
        "message": "\n".join(bad + ([port_race_note(s)] if race else [])),
        "duration_s": s.wall_s,
    }


def results_document(
    t: BenchThroughput,
    run_id: str,
    history: list[HistoryEntry],
    *,
    server_metrics: ServerMetrics | None = None,
    storm_events: list[list[dict]] | None = None,
) -> Results:
    """The bench as the harness's results document, so the report renders it (tables,
    charts); each storm and the churn is a test that fails on any error. The storms' timeline
    events (storm by storm) and the server metrics come beside it: charts, not figures."""
    sm = server_metrics
    storm_events = storm_events or []
    rows = [_row(s) for s in t.levels()]
    tests = [level_test(s) for s in t.levels()]
    tables = [
        {
            "title": "Launch storms and churn",
            "columns": STORM_COLUMNS,
            "rows": rows,
            "note": "TTFE = time to first execute: kernel requested -> first execute reply. "
            "Ceiling = cores / CPU-seconds per start, measured from the gateway's and its "
            "kernels' own CPU accounting.",
        },
        {
            "title": "Saturation and ceiling",
            "columns": ["figure", "value"],
            "rows": [
                ["knee", t.knee.reason],
                [
                    "CPU per start",
                    f"{_or_dash(t.ceiling.cpu_s_per_start)} s"
                    if t.ceiling.measured
                    else t.ceiling.reason,
                ],
                ["ceiling (starts/s)", _or_dash(t.ceiling.ceiling_starts_per_s)],
                [
                    "best fraction of the ceiling",
                    f"{t.ceiling.best_fraction:.0%} at {t.ceiling.best_at}"
                    if t.ceiling.best_fraction
                    else "-",
                ],
                [
                    "results valid for a gate",
                    "yes" if t.valid else "NO: " + "; ".join(t.invalid_reasons),
                ],
            ],
        },
    ]
    phase_rows = [
        [s.concurrency, phase, _s(p.p50), _s(p.p95), _s(p.p99), _s(p.max), p.count]
        for s in t.storms
        for phase, p in s.phases_s.items()
    ]
    tables.append(
        {
            "title": "Per-phase percentiles",
            "columns": ["concurrency", "phase", "p50", "p95", "p99", "max", "count"],
            "rows": phase_rows,
        }
    )
    if sm is not None:
        tables.append(servers_table(sm))
    cluster_rows = cluster_table(t.levels())
    if cluster_rows is not None:
        tables.append(cluster_rows)
    hub_rows = [
        [
            s.concurrency,
            s.spawns.accepted,
            s.spawns.max_in_flight,
            s.spawns.throttled,
            _or_dash(s.spawns.limit),
            {True: "yes", False: "NO", None: "limit not known"}[s.spawns.respected],
            "-"
            if not s.target_cpu_by_group_s
            else ", ".join(f"{g} {v:.1f}" for g, v in s.target_cpu_by_group_s.items()),
        ]
        for s in t.storms
        if s.spawns
    ]
    if hub_rows:
        tables.append(
            {
                "title": "Hub storms: spawns against concurrent_spawn_limit, CPU by component",
                "columns": [
                    "concurrency",
                    "spawns accepted",
                    "most in flight",
                    "refused (429)",
                    "limit",
                    "respected",
                    "CPU s by group",
                ],
                "rows": hub_rows,
                "note": "time to first execute of a hub journey runs from the spawn request; "
                "its ceiling counts the gateway, kernels, hub, user servers and proxy",
            }
        )
    if t.repeats > 1:
        tables.append(per_repeat_table(t))
    chart_list = []
    if t.storms:
        chart_list.append(charts.latency_chart(t.storms))
        chart_list.append(charts.throughput_chart(t.storms, t.ceiling))
        biggest = t.storms[-1]
        events = storm_events[-1] if storm_events else None
        if events:
            chart_list.append(
                charts.timeline_chart(events, f"Timeline of the storm of {biggest.concurrency}")
            )
            aligned = charts.storm_servers_chart(
                events,
                sm,
                f"The storm of {biggest.concurrency} and the servers, on one clock",
            )
            if aligned:
                chart_list.append(aligned)
    trend = charts.trend_chart(history)
    if trend:
        chart_list.append(trend)
    return Results.produced(
        "bench",
        run_id=run_id,
        started=t.started_at,
        finished=t.finished_at,
        duration_s=t.duration_s,
        command="eg-harness bench",
        target=t.target,
        cleanup=t.cleanup,
        tests=tests,
        tables=tables,
        charts=chart_list,
        throughput=t,
        server_metrics=sm,
    )


CLUSTER_GROUPS = (
    "etcd",
    "apiserver",
    "controller-manager",
    "scheduler",
    "kubelet",
    "kube-proxy",
    "dns",
    "containerd",
    "shims",
    "pods",
)


def cluster_table(levels: list[Level]) -> dict | None:
    """The cluster's CPU and peak memory step by step (a target with a cluster on this
    machine), each component's share beside the total."""
    rows = []
    source = ""
    for s in levels:
        c = s.cluster
        if c is None:
            continue
        source = c.source
        others = sorted(set(c.cpu_s_by_group) - set(CLUSTER_GROUPS))
        by = [
            f"{g} {c.cpu_s_by_group[g]:.1f}s/{c.rss_mib_peak_by_group.get(g, 0):.0f}M"
            for g in (*CLUSTER_GROUPS, *others)
            if g in c.cpu_s_by_group
        ]
        rows.append(
            [
                s.concurrency if s.mode == "storm" else f"churn x{s.concurrency}",
                _or_dash(c.window_s),
                _or_dash(c.cpu_s),
                _or_dash(c.cpu_cores_mean),
                "-" if not s.ok or c.cpu_s is None else round(c.cpu_s / s.ok, 2),
                _or_dash(c.rss_mib_peak),
                c.processes_peak,
                ", ".join(by),
            ]
        )
    if not rows:
        return None
    return {
        "title": "The cluster under the ladder: CPU and memory step by step",
        "columns": [
            "concurrency",
            "window s",
            "CPU s",
            "cores (mean)",
            "CPU s per ok start",
            "peak RSS MiB",
            "processes (peak)",
            "by component: CPU s / peak RSS MiB",
        ],
        "rows": rows,
        "note": f"Measured from {source}, over each step's wall time (locust's start-up "
        "included); per ok start: the step's whole cluster CPU (the control plane's idle share "
        "included) over its journeys that reached a first execute. The cluster's own processes "
        "only: the harness and other work on the machine are not in it.",
    }


def per_repeat_table(t: BenchThroughput) -> dict:
    """Each level's figures repeat by repeat: the spread a gate or a diff judges noise by."""
    rows = []
    for s in t.levels():
        per = s.per_repeat or {}
        for i, (p50, p95, rate, err) in enumerate(
            zip(
                per.get("p50_ttfe_s", []),
                per.get("p95_ttfe_s", []),
                per.get("starts_per_s", []),
                per.get("error_rate", []),
            ),
            1,
        ):
            level = s.concurrency if s.mode == "storm" else f"churn x{s.concurrency}"
            rows.append([level, i, _s(p50), _s(p95), f"{rate:.2f}", f"{err:.0%}"])
    return {
        "title": f"Per-repeat figures ({t.repeats} repeats on one deployment)",
        "columns": ["concurrency", "repeat", "TTFE p50", "p95", "starts/s", "error rate"],
        "rows": rows,
        "note": "The storms and churn table pools every repeat's journeys; these are the "
        "figures of each repeat alone, whose spread `eg-harness gate` and `eg-harness diff` "
        "judge changes against.",
    }


def print_bench(t: BenchThroughput) -> None:
    table = RichTable(title="Launch throughput", show_lines=False)
    for col in STORM_COLUMNS:
        table.add_column(col)
    for s in t.levels():
        table.add_row(*[str(x) for x in _row(s)])
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    console.print(table)
    console.print(f"knee: {t.knee.reason}")
    c = t.ceiling
    if c.measured:
        console.print(
            f"ceiling: {c.cpu_s_per_start:.2f} CPU-s per start -> "
            f"{c.ceiling_starts_per_s:.2f} starts/s on {t.machine['cores']} cores; best "
            f"{c.best_starts_per_s:.2f}/s = {c.best_fraction:.0%} of it ({c.best_at})"
        )
    else:
        console.print(f"ceiling: not measured ({c.reason})")
    if not t.valid:
        console.print("[bold red]INVALID for a gate:[/] " + "; ".join(t.invalid_reasons))


def _or_dash(v: Any) -> Any:
    return "-" if v is None else v
