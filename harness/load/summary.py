"""From raw phase events to the figures an operator asks for, and the bench document.

With N users starting a kernel at the same moment: how long each waits until their first cell
runs (time-to-first-execute percentiles), how many starts per second the gateway sustains, where
it stops scaling (the knee), how close that is to what this machine could do at best (cores /
CPU-seconds per start), and whether the generator left the figures valid at all.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from eg_harness.load.journeys import TTFE
from eg_harness.load.plan import BenchSettings
from eg_harness.load.runner import LoadRun
from eg_harness.report.bench_results import (
    BENCH_SCHEMA,
    FIGURE_KEYS,
    BenchThroughput,
    Ceiling,
    Generator,
    HistoryEntry,
    Knee,
    Level,
    Percentiles,
    Spawns,
)
from eg_harness.stats.percentiles import percentile

SCHEMA = BENCH_SCHEMA
KNEE_GAIN = 1.05  # the next step must add at least 5% throughput to count as still scaling


def pcts(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(p50=None, p95=None, p99=None, max=None, count=0)
    return Percentiles(
        p50=round(percentile(values, 50), 4),
        p95=round(percentile(values, 95), 4),
        p99=round(percentile(values, 99), 4),
        max=round(max(values), 4),
        count=len(values),
    )


def summarise(run: LoadRun, cores: int) -> Level:
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
    # Journeys that reached their first execute but failed later (a cell, the shutdown): not
    # failed starts, but a user who saw an error all the same.
    errored = sum(1 for j in journeys.values() if any(not e["ok"] for e in j["events"]))
    step = run.step
    expected = step.users if step.mode == "storm" else len(journeys)
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
    window = makespan if step.mode == "storm" else float(step.run_seconds)
    per_s = round(ok / window, 4) if window and ok else 0.0
    cpu_s = run.target_cpu_s
    if step.journey == "hub":
        # A hub journey also costs the hub, a user server and the proxy: the ceiling counts
        # every group, or it would flatter the deployment.
        cpu_s = round(sum((run.target_cpu_by_group or {}).values()), 3) or None
    cpu_per_start = round(cpu_s / ok, 4) if cpu_s and ok else None
    ceiling = round(cores / cpu_per_start, 4) if cpu_per_start else None
    return Level(
        mode=step.mode,
        concurrency=step.users,
        journeys=expected,
        ok=ok,
        failed=failed + missing,
        error_rate=round((failed + missing) / expected, 4) if expected else 0.0,
        errors=dict(errors),
        error_examples=first_errors,
        journeys_with_errors=errored + missing,
        time_to_first_execute_s=pcts(ttfe),
        # The raw times, so a gate or a diff can bootstrap intervals from the run itself.
        ttfe_samples_s=[round(v, 4) for v in ttfe],
        phases_s={p: pcts(v) for p, v in sorted(by_phase.items()) if p != TTFE},
        makespan_s=round(makespan, 4) if makespan else None,
        starts_per_s=per_s,
        target_cpu_s=cpu_s,
        target_cpu_by_group_s=run.target_cpu_by_group,
        cpu_s_per_start=cpu_per_start,
        ceiling_starts_per_s=ceiling,
        ceiling_fraction=round(per_s / ceiling, 4) if ceiling else None,
        generator=Generator.model_validate(run.generator),
        # How much slower than an idle core CPU work ran during this step (cpu.ContentionProbe).
        machine_slowdown=run.machine.get("slowdown"),
        valid=bool(run.generator.get("valid", True)) and not run.timed_out,
        notes=run.notes,
        wall_s=run.wall_s,
        out_dir=run.out_dir.name,
    )


def spawn_concurrency(events: list[dict[str, Any]], limit: int | None) -> Spawns:
    """How many spawns the hub had in flight at once, from the client's side, against its
    concurrent_spawn_limit: the most accepted spawns overlapping in time, and how many were
    refused with 429 (JupyterHub's answer past the limit)."""
    edges = []
    for e in events:
        if e["phase"] == "spawn" and e["ok"]:
            edges += [(e["start"], 1), (e["start"] + e["seconds"], -1)]
    peak = live = 0
    for _t, step in sorted(edges, key=lambda x: (x[0], x[1])):  # an end before a start
        live += step
        peak = max(peak, live)
    throttled = sum(
        1 for e in events if e["phase"] == "spawn" and not e["ok"] and e["error_kind"] == "HTTP 429"
    )
    return Spawns(
        limit=limit,
        max_in_flight=peak,
        accepted=sum(1 for e in events if e["phase"] == "spawn" and e["ok"]),
        throttled=throttled,
        respected=None if limit is None else peak <= limit,
    )


PER_REPEAT = FIGURE_KEYS  # each repeat's comparable figures, kept in a pooled summary


def pool(runs: list[LoadRun], per_round: list[Level], cores: int) -> Level:
    """One level's repeats as one summary: percentiles over every journey of every repeat,
    counts summed, the rate as the median repeat's, and each repeat's own figures kept
    (``per_repeat``) so a gate or a diff can see the run-to-run spread."""
    merged = LoadRun(
        step=runs[0].step,
        events=[e for r in runs for e in r.events],
        wall_s=round(sum(r.wall_s for r in runs), 3),
        exit_code=max((r.exit_code or 0) for r in runs),
        generator=max(
            (r.generator for r in runs),
            key=lambda g: (not g.get("valid", True), g.get("busiest_process_cores", 0)),
        ),
        target_cpu_s=(
            round(sum(r.target_cpu_s for r in runs), 4)
            if all(r.target_cpu_s is not None for r in runs)
            else None
        ),
        out_dir=runs[0].out_dir,
        timed_out=any(r.timed_out for r in runs),
        notes=[f"repeat {i}: {n}" for i, r in enumerate(runs, 1) for n in r.notes],
        target_cpu_by_group=_summed([r.target_cpu_by_group for r in runs]),
    )
    s = summarise(merged, cores)
    errors: Counter[str] = Counter()
    for one in per_round:
        errors.update(one.errors)
    journeys = sum(one.journeys for one in per_round)
    failed = sum(one.failed for one in per_round)
    rate = statistics.median(one.starts_per_s for one in per_round)
    spans = [one.makespan_s for one in per_round if one.makespan_s]
    slowdowns = [one.machine_slowdown for one in per_round if one.machine_slowdown]
    pooled = s.model_copy(
        update={
            "journeys": journeys,
            "ok": sum(one.ok for one in per_round),
            "failed": failed,
            "error_rate": round(failed / journeys, 4) if journeys else 0.0,
            "journeys_with_errors": sum(one.journeys_with_errors for one in per_round),
            "errors": dict(errors),
            "starts_per_s": round(rate, 4),
            "makespan_s": round(statistics.median(spans), 4) if spans else None,
            "ceiling_fraction": (
                round(rate / s.ceiling_starts_per_s, 4) if s.ceiling_starts_per_s else None
            ),
            "machine_slowdown": round(statistics.mean(slowdowns), 3) if slowdowns else None,
            "repeats": len(per_round),
            "per_repeat": _per_repeat(per_round),
            "out_dir": ", ".join(r.out_dir.name for r in runs),
        }
    )
    if per_round[-1].spawns:
        pooled.spawns = per_round[-1].spawns  # hub journeys: the last repeat's spawn figures
    return pooled


def _per_repeat(per_round: list[Level]) -> dict[str, list[float | None]]:
    """Each comparable figure, repeat by repeat (the level's own figures)."""
    figs = [one.figures() for one in per_round]
    return {k: [getattr(f, k) for f in figs] for k in PER_REPEAT}


def _summed(groups: list[dict[str, float] | None]) -> dict[str, float] | None:
    if not groups or any(g is None for g in groups):
        return None
    out: dict[str, float] = {}
    for g in groups:
        for k, v in g.items():
            out[k] = round(out.get(k, 0.0) + v, 3)
    return out


def knee(steps: list[Level]) -> Knee:
    """The concurrency after which throughput stops rising or errors start."""
    best = None
    for i, step in enumerate(steps):
        if step.failed:
            return Knee(
                concurrency=steps[i - 1].concurrency if i else None,
                reason=f"errors start at {step.concurrency} concurrent starts",
            )
        if best is not None and step.starts_per_s < best.starts_per_s * KNEE_GAIN:
            return Knee(
                concurrency=best.concurrency,
                reason=f"throughput stops rising after {best.concurrency} "
                f"({best.starts_per_s:.2f}/s, then {step.starts_per_s:.2f}/s at "
                f"{step.concurrency})",
            )
        best = step
    return Knee(
        concurrency=None,
        reason=f"no knee up to {steps[-1].concurrency} (the top of the ladder)"
        if steps
        else "no steps",
    )


def ceiling(steps: list[Level], churn: Level | None) -> Ceiling:
    """CPU cost of a start, from the run with the most starts, and the fraction reached.

    The ceiling is a sustained rate (every start also costs its shutdown), so the fraction is
    judged on the churn when there is one; a storm's rate is a burst over its makespan and can
    exceed the ceiling for a moment because shutdown CPU lands after the last first execute.
    """
    runs = [s for s in [*steps, *([churn] if churn else [])] if s.cpu_s_per_start]
    if not runs:
        return Ceiling(measured=False, reason="the target's processes are not visible here")
    ref = max(runs, key=lambda s: s.ok)
    sustained = [churn] if churn and churn.ceiling_fraction else runs
    best = max(sustained, key=lambda s: s.ceiling_fraction or 0)
    return Ceiling(
        measured=True,
        cpu_s_per_start=ref.cpu_s_per_start,
        ceiling_starts_per_s=ref.ceiling_starts_per_s,
        best_starts_per_s=best.starts_per_s,
        best_fraction=best.ceiling_fraction,
        best_at=f"{best.mode} {best.concurrency}",
    )


def invalid_reasons(runs: list[Level]) -> list[str]:
    """Why figures cannot be trusted: a busy generator, or a locust run that went wrong."""
    return [
        f"{s.mode} at {s.concurrency}: a load generator process averaged "
        f"{s.generator.busiest_process_cores} cores "
        f"(limit {s.generator.limit_cores})"
        for s in runs
        if not s.generator.valid
    ] + [f"{s.mode} at {s.concurrency}: {n}" for s in runs for n in s.notes]


def document(
    settings: BenchSettings,
    kernelspec: str | None,
    cores: int,
    target: dict[str, Any],
    summaries: list[Level],
) -> BenchThroughput:
    """The bench's figures as one document (results.json's `throughput`, history, baselines)."""
    steps = [s for s in summaries if s.mode == "storm"]
    churn = next((s for s in summaries if s.mode == "churn"), None)
    runs = [*steps, *([churn] if churn else [])]
    return BenchThroughput(
        schema=SCHEMA,
        settings=settings.to_dict() | {"kernelspec": kernelspec},
        machine={"cores": cores},
        repeats=settings.repeat,
        target=target,
        storms=steps,
        churn=churn,
        knee=knee(steps),
        ceiling=ceiling(steps, churn),
        valid=all(s.valid for s in runs),
        invalid_reasons=invalid_reasons(runs),
    )


def append_history(path: Path, doc: BenchThroughput, run_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = HistoryEntry(
        run_id=run_id,
        started_at=doc.started_at,
        figures=doc.figures(),
        versions=doc.target.get("versions", {}),
    )
    with open(path, "a") as fh:
        fh.write(json.dumps(entry.model_dump(mode="json")) + "\n")


def read_history(path: Path) -> list[HistoryEntry]:
    """The history's runs, oldest first; a line that is not one (cut short, hand-edited) is
    skipped rather than failing the bench that reads it."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(HistoryEntry.model_validate_json(line))
        except ValueError:
            continue
    return out
