"""Launch-throughput benchmark: storms up a concurrency ladder, churn, knee and CPU ceiling.

The figures are what an operator asks: with N users starting a kernel at the same moment, how
long does each wait until their first cell runs (time-to-first-execute percentiles), how many
starts per second does the gateway sustain, where does it stop scaling (the knee), and how close
is that to what this machine could do at best (cores / CPU-seconds per start).
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eg_harness.load.journeys import TTFE
from eg_harness.load.runner import LoadRun, run_locust
from eg_harness.report.stats import percentile
from eg_harness.targets.base import Target

SCHEMA = "eg-harness-bench/1"
KNEE_GAIN = 1.05  # the next step must add at least 5% throughput to count as still scaling


@dataclass
class BenchSettings:
    ladder: list[int] = field(default_factory=lambda: [1, 2, 5, 10, 20])
    journey: str = "gateway"
    kernelspec: str | None = None
    churn_users: int = 0  # 0: no churn phase
    churn_seconds: float = 30.0
    workers: int = 0  # locust worker processes for the churn phase

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pcts(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "count": 0}
    return {
        "p50": round(percentile(values, 50), 4),
        "p95": round(percentile(values, 95), 4),
        "p99": round(percentile(values, 99), 4),
        "max": round(max(values), 4),
        "count": len(values),
    }


def summarise(run: LoadRun, cores: int) -> dict[str, Any]:
    """One storm's or churn's figures from its raw phase events."""
    by_phase: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    journeys: dict[str, dict[str, Any]] = defaultdict(dict)
    for e in run.events:
        journeys[e["journey"]].setdefault("events", []).append(e)
        if e["ok"]:
            by_phase[e["phase"]].append(e["seconds"])
        else:
            errors[f"{e['phase']}: {e['error_kind']}"] += 1
    ttfe = by_phase.get(TTFE, [])
    ok = len(ttfe)
    failed = sum(1 for j in journeys.values() if not any(e["phase"] == TTFE for e in j["events"]))
    expected = run.users if run.mode == "storm" else len(journeys)
    missing = max(expected - len(journeys), 0)  # journeys that never reported anything
    first_errors: dict[str, str] = {}
    for e in run.events:
        if not e["ok"]:
            first_errors.setdefault(f"{e['phase']}: {e['error_kind']}", e.get("error") or "")
    if run.events:
        t_first = min(e["start"] for e in run.events)
        t_last = (
            max(e["start"] + e["seconds"] for e in run.events if e["phase"] == TTFE)
            if (ttfe)
            else t_first
        )
        makespan = max(t_last - t_first, 1e-6)
    else:
        makespan = None
    window = makespan if run.mode == "storm" else float(run.seconds)
    per_s = round(ok / window, 4) if window and ok else 0.0
    cpu_per_start = round(run.target_cpu_s / ok, 4) if run.target_cpu_s and ok else None
    ceiling = round(cores / cpu_per_start, 4) if cpu_per_start else None
    return {
        "mode": run.mode,
        "concurrency": run.users,
        "journeys": expected,
        "ok": ok,
        "failed": failed + missing,
        "error_rate": round((failed + missing) / expected, 4) if expected else 0.0,
        "errors": dict(errors),
        "error_examples": first_errors,
        "time_to_first_execute_s": _pcts(ttfe),
        "phases_s": {p: _pcts(v) for p, v in sorted(by_phase.items()) if p != TTFE},
        "makespan_s": round(makespan, 4) if makespan else None,
        "starts_per_s": per_s,
        "target_cpu_s": run.target_cpu_s,
        "cpu_s_per_start": cpu_per_start,
        "ceiling_starts_per_s": ceiling,
        "ceiling_fraction": round(per_s / ceiling, 4) if ceiling else None,
        "generator": run.generator,
        "valid": bool(run.generator.get("valid", True)) and not run.timed_out,
        "notes": run.notes,
        "wall_s": run.wall_s,
        "out_dir": run.out_dir.name,
    }


def knee(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The concurrency after which throughput stops rising or errors start."""
    best = None
    for i, step in enumerate(steps):
        if step["failed"]:
            return {
                "concurrency": steps[i - 1]["concurrency"] if i else None,
                "reason": f"errors start at {step['concurrency']} concurrent starts",
            }
        if best is not None and step["starts_per_s"] < best["starts_per_s"] * KNEE_GAIN:
            return {
                "concurrency": best["concurrency"],
                "reason": f"throughput stops rising after {best['concurrency']} "
                f"({best['starts_per_s']:.2f}/s, then {step['starts_per_s']:.2f}/s at "
                f"{step['concurrency']})",
            }
        best = step
    return {
        "concurrency": None,
        "reason": f"no knee up to {steps[-1]['concurrency']} (the top of the ladder)"
        if steps
        else "no steps",
    }


def _gateway_cpu_only(step: dict[str, Any], journey: str) -> dict[str, Any]:
    # A hub journey also costs the hub and a user server, which the gateway's CPU accounting
    # does not see: a ceiling from it would flatter the deployment, so none is given.
    if journey == "hub":
        step.update(cpu_s_per_start=None, ceiling_starts_per_s=None, ceiling_fraction=None)
    return step


def run_bench(target: Target, out_dir: Path, settings: BenchSettings, progress=print) -> dict:
    cores = os.cpu_count() or 1
    kernelspec = settings.kernelspec or target.gateway.kernelspec
    storm_cap = target.gateway.launch_timeout * 2 + 30
    steps = []
    for n in settings.ladder:
        run = run_locust(
            target,
            out_dir / f"storm-{n:03d}",
            mode="storm",
            users=n,
            seconds=storm_cap,
            journey=settings.journey,
            kernelspec=kernelspec,
            progress=progress,
        )
        step = _gateway_cpu_only(summarise(run, cores), settings.journey)
        step["_events"] = run.events  # for the timeline chart; dropped from results.json
        steps.append(step)
        t = step["time_to_first_execute_s"]
        progress(
            f"storm {n}: {step['ok']}/{step['journeys']} ok, time-to-first-execute p50 "
            f"{_s(t['p50'])} p95 {_s(t['p95'])} max {_s(t['max'])}, "
            f"{step['starts_per_s']:.2f} starts/s" + ("" if step["valid"] else " (INVALID)")
        )
    churn = None
    if settings.churn_users:
        run = run_locust(
            target,
            out_dir / "churn",
            mode="churn",
            users=settings.churn_users,
            seconds=settings.churn_seconds,
            journey=settings.journey,
            kernelspec=kernelspec,
            workers=settings.workers,
            progress=progress,
        )
        churn = _gateway_cpu_only(summarise(run, cores), settings.journey)
        progress(f"churn: {churn['ok']} journeys, {churn['starts_per_s']:.2f} starts/s")
    doc = {
        "schema": SCHEMA,
        "settings": settings.to_dict() | {"kernelspec": kernelspec},
        "machine": {"cores": cores},
        "target": target.describe(),
        "storms": steps,
        "churn": churn,
        "knee": knee(steps),
        "ceiling": _ceiling(steps, churn),
        "valid": all(s["valid"] for s in steps) and (churn is None or churn["valid"]),
    }
    doc["invalid_reasons"] = [
        f"{s['mode']} at {s['concurrency']}: a load generator process averaged "
        f"{s['generator'].get('busiest_process_cores')} cores "
        f"(limit {s['generator'].get('limit_cores')})"
        for s in [*steps, *([churn] if churn else [])]
        if not s["generator"].get("valid", True)
    ] + [
        f"{s['mode']} at {s['concurrency']}: {n}"
        for s in [*steps, *([churn] if churn else [])]
        for n in s["notes"]
    ]
    return doc


def _ceiling(steps: list[dict], churn: dict | None) -> dict[str, Any]:
    """CPU cost of a start, from the run with the most starts, and the fraction reached.

    The ceiling is a sustained rate (every start also costs its shutdown), so the fraction is
    judged on the churn when there is one; a storm's rate is a burst over its makespan and can
    exceed the ceiling for a moment because shutdown CPU lands after the last first execute.
    """
    runs = [s for s in [*steps, *([churn] if churn else [])] if s.get("cpu_s_per_start")]
    if not runs:
        return {
            "measured": False,
            "reason": "the target's processes are not visible here, or the journey (hub) "
            "costs more than the gateway's own accounting sees",
        }
    ref = max(runs, key=lambda s: s["ok"])
    sustained = [churn] if churn and churn.get("ceiling_fraction") else runs
    best = max(sustained, key=lambda s: s["ceiling_fraction"] or 0)
    return {
        "measured": True,
        "cpu_s_per_start": ref["cpu_s_per_start"],
        "ceiling_starts_per_s": ref["ceiling_starts_per_s"],
        "best_starts_per_s": best["starts_per_s"],
        "best_fraction": best["ceiling_fraction"],
        "best_at": f"{best['mode']} {best['concurrency']}",
    }


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def figures(doc: dict) -> dict[str, Any]:
    """The comparable subset of a bench: what baselines store and gates compare."""
    out: dict[str, Any] = {"storms": {}, "valid": doc.get("valid", True)}
    for s in doc.get("storms", []):
        out["storms"][str(s["concurrency"])] = {
            "p95_ttfe_s": s["time_to_first_execute_s"]["p95"],
            "p50_ttfe_s": s["time_to_first_execute_s"]["p50"],
            "starts_per_s": s["starts_per_s"],
            "error_rate": s["error_rate"],
        }
    c = doc.get("churn")
    if c:
        out["churn"] = {
            "p95_ttfe_s": c["time_to_first_execute_s"]["p95"],
            "p50_ttfe_s": c["time_to_first_execute_s"]["p50"],
            "starts_per_s": c["starts_per_s"],
            "error_rate": c["error_rate"],
        }
    return out


def append_history(path: Path, doc: dict, run_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "run_id": run_id,
        "started_at": doc.get("started_at"),
        "figures": figures(doc),
        "versions": doc.get("target", {}).get("versions", {}),
    }
    with open(path, "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


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


def _row(s: dict[str, Any]) -> list[Any]:
    t = s["time_to_first_execute_s"]
    gen = s["generator"]
    return [
        s["concurrency"] if s["mode"] == "storm" else f"churn x{s['concurrency']}",
        f"{s['ok']} / {s['journeys']}",
        _s(t["p50"]),
        _s(t["p95"]),
        _s(t["p99"]),
        _s(t["max"]),
        f"{s['starts_per_s']:.2f}",
        "-" if s["cpu_s_per_start"] is None else f"{s['cpu_s_per_start']:.2f}",
        "-" if s["ceiling_fraction"] is None else f"{s['ceiling_fraction']:.0%}",
        ", ".join(f"{k} x{v}" for k, v in s["errors"].items()) or "none",
        ("ok" if gen.get("valid", True) else "BOTTLENECK")
        + f" ({gen.get('busiest_process_cores', 0):.2f} cores)",
    ]


def results_document(doc: dict, run_id: str, history: list[dict]) -> dict:
    """The bench as the harness's results document, so the report renders it (tables,
    charts); each storm and the churn is a test that fails on any error."""
    from eg_harness.report import charts
    from eg_harness.report.model import Results

    rows = [_row(s) for s in doc["storms"]] + ([_row(doc["churn"])] if doc.get("churn") else [])
    tests = []
    for s in [*doc["storms"], *([doc["churn"]] if doc.get("churn") else [])]:
        name = f"{s['mode']} {s['concurrency']}"
        bad = [f"{k} x{v}: {s['error_examples'].get(k, '')[:200]}" for k, v in s["errors"].items()]
        if not s["valid"]:
            bad.append(
                "INVALID: the load generator was the bottleneck"
                if not s["generator"].get("valid", True)
                else "INVALID: " + "; ".join(s["notes"])
            )
        if s["failed"] and not s["errors"]:
            bad.append(f"{s['failed']} journeys never reported")
        tests.append(
            {
                "nodeid": f"bench::{name}",
                "name": name,
                "suite": "throughput",
                "outcome": "failed" if bad else "passed",
                "message": "\n".join(bad),
                "duration_s": s["wall_s"],
            }
        )
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
                ["knee", doc["knee"]["reason"]],
                [
                    "CPU per start",
                    f"{doc['ceiling'].get('cpu_s_per_start', '-')} s"
                    if doc["ceiling"].get("measured")
                    else doc["ceiling"]["reason"],
                ],
                ["ceiling (starts/s)", doc["ceiling"].get("ceiling_starts_per_s", "-")],
                [
                    "best fraction of the ceiling",
                    f"{doc['ceiling']['best_fraction']:.0%} at {doc['ceiling']['best_at']}"
                    if doc["ceiling"].get("best_fraction")
                    else "-",
                ],
                [
                    "results valid for a gate",
                    "yes" if doc["valid"] else "NO: " + "; ".join(doc["invalid_reasons"]),
                ],
            ],
        },
    ]
    phase_rows = []
    for s in doc["storms"]:
        for phase, p in s["phases_s"].items():
            phase_rows.append(
                [
                    s["concurrency"],
                    phase,
                    _s(p["p50"]),
                    _s(p["p95"]),
                    _s(p["p99"]),
                    _s(p["max"]),
                    p["count"],
                ]
            )
    tables.append(
        {
            "title": "Per-phase percentiles",
            "columns": ["concurrency", "phase", "p50", "p95", "p99", "max", "count"],
            "rows": phase_rows,
        }
    )
    chart_list = []
    if doc["storms"]:
        chart_list.append(charts.latency_chart(doc["storms"]))
        chart_list.append(charts.throughput_chart(doc["storms"], doc["ceiling"]))
        biggest = doc["storms"][-1]
        if biggest.get("_events"):
            chart_list.append(
                charts.timeline_chart(
                    biggest["_events"], f"Timeline of the storm of {biggest['concurrency']}"
                )
            )
    trend = charts.trend_chart(history)
    if trend:
        chart_list.append(trend)
    clean = json.loads(json.dumps(doc, default=str))  # a copy; the timeline events go below
    for s in clean["storms"]:
        s.pop("_events", None)
    return Results(
        kind="bench",
        run_id=run_id,
        started_at=doc.get("started_at"),
        finished_at=doc.get("finished_at"),
        duration_s=doc.get("duration_s"),
        command="eg-harness bench",
        target=doc["target"],
        tests=tests,
        tables=tables,
        charts=chart_list,
        cleanup=doc.get("cleanup"),
        throughput=clean,
    )


def print_bench(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Launch throughput", show_lines=False)
    for c in STORM_COLUMNS:
        table.add_column(c)
    for s in [*doc["storms"], *([doc["churn"]] if doc.get("churn") else [])]:
        table.add_row(*[str(x) for x in _row(s)])
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    console.print(table)
    console.print(f"knee: {doc['knee']['reason']}")
    c = doc["ceiling"]
    if c.get("measured"):
        console.print(
            f"ceiling: {c['cpu_s_per_start']:.2f} CPU-s per start -> "
            f"{c['ceiling_starts_per_s']:.2f} starts/s on {doc['machine']['cores']} cores; best "
            f"{c['best_starts_per_s']:.2f}/s = {c['best_fraction']:.0%} of it ({c['best_at']})"
        )
    else:
        console.print(f"ceiling: not measured ({c['reason']})")
    if not doc["valid"]:
        console.print("[bold red]INVALID for a gate:[/] " + "; ".join(doc["invalid_reasons"]))


# Known failure signatures in a gateway log, and what they mean for a user under load.
LOG_SIGNATURES = (
    (
        "Address already in use",
        "a kernel died binding a port another kernel took first (the port race of concurrent "
        "local launches); EG had already answered 201",
    ),
    (
        "Timeout waiting for kernel_info reply",
        "a client's WebSocket waited for a kernel that never answered (60 s in EG 3.3)",
    ),
    (
        "object has no attribute 'last_activity'",
        "a start under a kernel limit failed with 500 while another kernel was starting",
    ),
    ("Waited too long", "a remote kernel did not report its ports within the launch timeout"),
)


def log_findings(log: Path) -> list[list[Any]]:
    """[signature, count, meaning] for each known signature found in a component log."""
    if not log.is_file():
        return []
    text = log.read_text(errors="replace")
    return [[sig, text.count(sig), meaning] for sig, meaning in LOG_SIGNATURES if sig in text]
