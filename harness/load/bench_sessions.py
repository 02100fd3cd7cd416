"""`eg-harness bench-ws --sessions N` as one pipeline: provision -> (more gateways) -> sample
the servers while sessions.py holds the load -> results, report, OpenMetrics, console.

With `--gateways G` above 1 the target starts G-1 more gateway processes (the ExtraGateways
ability): one EG process stops accepting sessions long before the generator runs out (see the
figures in docs/performance.md), so the generator's own capacity is shown across several.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from eg_harness.errors import ConfigError
from eg_harness.load import logscan, servers, sessions
from eg_harness.report import charts
from eg_harness.report import writer as report
from eg_harness.report.bench_results import Sessions
from eg_harness.report.model import Results, Table
from eg_harness.runtime import secrets
from eg_harness.targets.abilities import ExtraGateways
from eg_harness.targets.base import Target


def bench(
    target: Target,
    settings: sessions.SessionsSettings,
    report_dir: Path,
    run_id: str,
    progress=print,
) -> Results:
    target.diagnostics_dir = report_dir / "diagnostics"
    started = time.time()
    try:
        target.provision(progress)
        extra = target.ability(ExtraGateways)
        if settings.gateways > 1 and extra is None:
            raise ConfigError(f"--gateways {settings.gateways}: {ExtraGateways.missing}")
        with contextlib.ExitStack() as stack:
            endpoints = [target.gateway]
            if settings.gateways > 1:
                endpoints += stack.enter_context(
                    extra.extra_gateways(settings.gateways - 1, progress)
                )
            with servers.ServerSampler(target) as sampler:
                doc = sessions.run(endpoints, settings, progress)
            server_metrics = sampler.result()
            sampler.save_last_scrape(report_dir / "diagnostics")
    finally:
        cleanup = target.teardown()
    diag = report_dir / "diagnostics"
    explain_replaced(doc, sorted(diag.glob("gateway*.log")) if diag.is_dir() else [])
    results = results_document(doc, server_metrics, target, run_id, started, cleanup)
    if diag.is_dir():
        results.diagnostics = [f"diagnostics/{p.name}" for p in sorted(diag.iterdir())]
        found = []
        for log in sorted(diag.glob("gateway*.log")):
            found += [[log.name, *row] for row in logscan.log_findings(log)]
        if found:
            results.tables.append(
                Table(
                    title="Known failure signatures in the gateway logs",
                    columns=["log", "signature", "count", "what it means"],
                    rows=found,
                )
            )
    report.write_report(report_dir, results, redact=secrets.redact, latest_name="latest-bench")
    return results


LAT_KEYS = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "count")


def explain_replaced(doc: Sessions, gateway_logs: list) -> None:
    """Mark each replaced kernel the gateway's log shows dying in EG's port race: a known
    upstream defect of local launches (no pod has another's ports), reported beside the
    figures, not a failure of the sessions. Anything else that kept a kernel from answering
    is an error of the run; so is every replaced kernel where no log can be read (an existing
    deployment): a user's kernel died there, for a reason the harness cannot name."""
    for k in doc.kernels_replaced:
        k.port_race = any(logscan.died_in_port_race(log, k.kernel_id) for log in gateway_logs)


def results_document(
    d: Sessions,
    server_metrics,
    target: Target,
    run_id: str,
    started: float,
    cleanup: dict,
) -> Results:
    """The sessions bench as the harness's results document: two tests (held, generator),
    tables and the timeline chart."""
    held, asked = d.sessions_held, d.sessions_requested
    bad = failures(d)
    replaced = d.kernels_replaced
    gen = d.generator
    window = d.window
    tests = [
        {
            "nodeid": "bench-ws::sessions held",
            "name": f"{asked} sessions",
            "suite": "throughput",
            "outcome": "passed" if held == asked and not bad else "failed",
            "message": "\n".join(bad),
            "duration_s": window.end_s - window.start_s if window else 0.0,
        },
        {
            "nodeid": "bench-ws::generator",
            "name": "generator not the bottleneck",
            "suite": "throughput",
            "outcome": "passed" if gen.valid else "failed",
            "message": "INVALID: " + "; ".join(gen.reasons) if not gen.valid else "",
        },
    ]
    b, lt, r = d.baseline, d.latency, d.ratio
    tables = [
        {
            "title": "Sessions from one process",
            "columns": ["figure", "value"],
            "rows": [
                ["sessions held / requested", f"{held} / {asked}"],
                ["alive at the end", d.sessions_alive_at_end],
                ["kernels / gateways", f"{d.kernels_started} / {len(d.gateways)}"],
                [
                    "kernels replaced (of them in EG's port race)",
                    f"{len(replaced)} ({sum(1 for k in replaced if k.port_race)})",
                ],
                ["opened with the idle status not yet seen", d.first_idle_missed],
                ["executes (per s)", f"{d.executes} ({d.executes_per_s}/s)"],
                ["frames received (per s)", f"{d.frames_received} ({d.frames_per_s}/s)"],
                ["generator CPU", f"{gen.cores:.2f} cores (limit {gen.limit_cores})"],
                ["generator loop lag p95", f"{gen.loop_lag_p95_ms} ms"],
                ["generator pinned to core", gen.pinned_core],
            ],
        },
        {
            "title": "Execute latency: one session alone vs every session under load",
            "columns": ["", "p50 ms", "p95 ms", "p99 ms", "max ms", "count"],
            "rows": [
                ["alone (baseline)", *(getattr(b, k) for k in LAT_KEYS)],
                ["under load", *(getattr(lt, k) for k in LAT_KEYS)],
                ["ratio", r.get("p50"), r.get("p95"), r.get("p99"), "", ""],
            ],
            "note": "request sent -> execute_reply received; the baseline is measured in the "
            "same run, on the same gateway and kernel, before the load",
        },
        {
            "title": "Per gateway",
            "columns": ["gateway", "kernels", "sessions held", "first failure"],
            "rows": [
                [
                    g.url,
                    g.kernels,
                    g.sessions_held,
                    "-"
                    if not g.broke
                    else f"began at {g.broke.at} (holding {g.broke.sessions_held}): "
                    f"{g.broke.cause}",
                ]
                for g in d.gateways
            ],
        },
        servers_table(server_metrics),
    ]
    chart_list = [charts.sessions_chart(d, server_metrics)]
    return Results.produced(
        "bench",
        run_id=run_id,
        started=started,
        command="eg-harness bench-ws --sessions",
        target=target.describe(),
        cleanup=cleanup,
        tests=tests,
        tables=tables,
        charts=[c for c in chart_list if c],
        sessions=d,
        server_metrics=server_metrics,
    )


def failures(d: Sessions) -> list[str]:
    """Why the sessions verdict fails, one line each (none: it passes)."""
    bad = []
    for g in d.gateways:
        if g.broke:
            b = g.broke
            bad.append(
                f"gateway {g.url} stopped accepting sessions: the failures began at "
                f"{b.at} while it held {b.sessions_held} on {b.kernels} kernels "
                f"({g.sessions_held} held in the end, opened concurrently): {b.cause}"
            )
    if d.errors:
        bad += [f"{k} x{v}: {d.error_examples.get(k, '')}" for k, v in d.errors.items()]
    unexplained = [k for k in d.kernels_replaced if not k.port_race]
    if unexplained:
        bad.append(f"kernel never ready (replaced) x{len(unexplained)}: {unexplained[0].cause}")
    return bad


def servers_table(sm) -> dict[str, Any]:
    return {
        "title": "Server side (sampled every second)",
        "columns": [
            "group",
            "processes",
            "CPU max (cores)",
            "CPU mean",
            "RSS max MiB",
            "open fds max",
            "TCP connections max",
        ],
        "rows": [
            [
                g.group,
                g.processes_max,
                g.cpu_cores_max,
                g.cpu_cores_mean,
                g.rss_mb_max,
                "-" if g.fds_max is None else g.fds_max,
                "-" if g.connections_max is None else g.connections_max,
            ]
            for g in sm.groups
        ],
        "note": "; ".join(sm.notes) or f"source: {sm.source}",
    }


def print_summary(results: Results) -> None:
    d = results.sessions
    if d is None:
        return
    gen = d.generator
    b, lt, r = d.baseline, d.latency, d.ratio
    print(
        f"sessions held: {d.sessions_held} / {d.sessions_requested} "
        f"({d.sessions_alive_at_end} alive at the end) on {d.kernels_started} kernels, "
        f"{len(d.gateways)} gateway(s)"
    )
    replaced = d.kernels_replaced
    if replaced:
        race = sum(1 for k in replaced if k.port_race)
        print(
            f"  kernels that never answered, replaced: {len(replaced)} ({race} died in EG's "
            "port race, a known upstream defect of local launches)"
        )
    for g in d.gateways:
        if g.broke:
            print(
                f"  gateway {g.url}: stopped accepting; failures began at {g.broke.at} "
                f"holding {g.broke.sessions_held} ({g.sessions_held} in the end): "
                f"{g.broke.cause}"
            )
    print(
        f"generator: {gen.cores:.2f} cores (one thread, pinned to core "
        f"{gen.pinned_core}), loop lag p95 {gen.loop_lag_p95_ms} ms -> "
        + ("valid" if gen.valid else "INVALID: " + "; ".join(gen.reasons))
    )
    print(
        f"executes: {d.executes} ({d.executes_per_s}/s), frames {d.frames_per_s}/s, "
        f"errors: {d.errors or 'none'}"
    )
    if d.first_idle_missed:
        print(
            f"opened without their first idle status: {d.first_idle_missed} session(s) (held: "
            "the reply came; jupyter_server 1.24 skips its iopub nudge for a busy kernel)"
        )
    print(f"{'':18}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, x in (("alone (baseline)", b), ("under load", lt)):
        print(f"{name:18}{_f(x.p50_ms)}{_f(x.p95_ms)}{_f(x.p99_ms)}")
    print(f"{'ratio':18}{_f(r.get('p50'))}{_f(r.get('p95'))}{_f(r.get('p99'))}")
    sm = results.server_metrics
    if sm is not None:
        for g in sm.groups:
            print(
                f"server {g.group:13} cpu max {g.cpu_cores_max:.2f} mean {g.cpu_cores_mean:.2f} "
                f"rss {g.rss_mb_max:.0f} MiB fds {g.fds_max} conns {g.connections_max}"
            )


def _f(v) -> str:
    return f"{'-':>10}" if v is None else f"{v:10.2f}"
