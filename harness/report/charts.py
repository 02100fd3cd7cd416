"""Charts for the report, as base64 PNGs so report.html stays one self-contained file."""

from __future__ import annotations

import base64
import io
from typing import Any

from eg_harness.report.bench_results import Ceiling, HistoryEntry, Level, Sessions

PHASE_COLOURS = {
    "start_kernel": "#4c78a8",
    "open_channels": "#f58518",
    "kernel_info": "#54a24b",
    "execute": "#e45756",
    "shutdown": "#9d9d9d",
    "create_user": "#b279a2",
    "spawn": "#72b7b2",
    "stop_server": "#bab0ac",
}


def _plt():
    # matplotlib costs ~0.5 s and picks its backend at pyplot's import: only a report with
    # charts pays, and Agg is chosen before pyplot loads.
    import matplotlib  # noqa: PLC0415 - heavy; the backend is set before pyplot's import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - as above

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def latency_chart(steps: list[Level]) -> dict[str, str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    xs = [s.concurrency for s in steps]
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-"), ("max", "x--")):
        ys = [getattr(s.time_to_first_execute_s, key) for s in steps]
        ax.plot(xs, [y if y is not None else float("nan") for y in ys], style, label=key)
    ax.set_xlabel("kernels requested at once")
    ax.set_ylabel("time to first execute (s)")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    return {"title": "Time to first execute against concurrency", "png": _png(fig)}


def throughput_chart(steps: list[Level], ceiling: Ceiling) -> dict[str, str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    xs = [s.concurrency for s in steps]
    ax.plot(xs, [s.starts_per_s for s in steps], "o-", label="kernel starts per second")
    if ceiling.measured and ceiling.ceiling_starts_per_s is not None:
        ax.axhline(
            ceiling.ceiling_starts_per_s,
            ls="--",
            color="grey",
            label=f"CPU ceiling ({ceiling.ceiling_starts_per_s:.2f}/s)",
        )
    errs = [s.concurrency for s in steps if s.failed]
    if errs:
        ax.scatter(
            errs,
            [s.starts_per_s for s in steps if s.failed],
            color="red",
            zorder=3,
            label="errors",
        )
    ax.set_xlabel("kernels requested at once")
    ax.set_ylabel("starts / s")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    return {"title": "Throughput against concurrency", "png": _png(fig)}


def timeline_chart(events: list[dict[str, Any]], title: str) -> dict[str, str]:
    """One storm: a row per journey, a bar per phase, on the storm's own clock."""
    plt = _plt()
    journeys = sorted(
        {e["journey"] for e in events},
        key=lambda j: min(e["start"] for e in events if e["journey"] == j),
    )
    t0 = min((e["start"] for e in events), default=0.0)
    fig, ax = plt.subplots(figsize=(6.4, max(1.6, 0.28 * len(journeys) + 1)))
    seen = set()
    for row, j in enumerate(journeys):
        for e in events:
            if e["journey"] != j or e["phase"] not in PHASE_COLOURS:
                continue
            label = e["phase"] if e["phase"] not in seen else None
            seen.add(e["phase"])
            ax.barh(
                row,
                e["seconds"],
                left=e["start"] - t0,
                color=PHASE_COLOURS[e["phase"]] if e["ok"] else "red",
                label=label,
            )
    ax.set_yticks([])
    ax.set_ylabel("journeys")
    ax.set_xlabel("seconds since the first request")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    return {"title": title, "png": _png(fig)}


def trend_chart(history: list[HistoryEntry]) -> dict[str, str] | None:
    """p95 time-to-first-execute and throughput over runs, at the highest common concurrency."""
    common = None
    for h in history:
        levels = set(h.figures.storms)
        common = levels if common is None else common & levels
    if not common or len(history) < 2:
        return None
    level = max(common, key=int)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    xs = list(range(1, len(history) + 1))
    p95 = [h.figures.storms[level].p95_ttfe_s for h in history]
    ax.plot(xs, [v if v is not None else float("nan") for v in p95], "o-", color="#4c78a8")
    ax.set_ylabel("p95 time to first execute (s)", color="#4c78a8")
    ax.set_xlabel("run (oldest first)")
    ax2 = ax.twinx()
    rate = [h.figures.storms[level].starts_per_s for h in history]
    ax2.plot(xs, [v if v is not None else float("nan") for v in rate], "s--", color="#f58518")
    ax2.set_ylabel("starts / s", color="#f58518")
    ax.grid(alpha=0.3)
    return {"title": f"Trend across runs (storm of {level})", "png": _png(fig)}


LAYER_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")


def layers_chart(starts: list[tuple[str, dict[str, float | None]]], layers: list[str]):
    """Kernel starts as stacked bars, one segment per layer; an unknown layer leaves a gap
    (hatched) rather than a guess."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, max(1.6, 0.45 * len(starts) + 1.2)))
    for row, (_label, values) in enumerate(starts):
        left = 0.0
        for i, layer in enumerate(layers):
            seconds = values.get(layer)
            colour = LAYER_COLOURS[i % len(LAYER_COLOURS)]
            if seconds is None:
                continue
            ax.barh(row, seconds, left=left, color=colour, label=layer if row == 0 else None)
            left += seconds
    handles, labels = ax.get_legend_handles_labels()
    if not handles:  # every layer unknown: still a legend that says what would be shown
        for i, layer in enumerate(layers):
            ax.barh(0, 0, color=LAYER_COLOURS[i % len(LAYER_COLOURS)], label=layer)
    ax.set_yticks(range(len(starts)), [label for label, _ in starts])
    ax.invert_yaxis()
    ax.set_xlabel("seconds from the request")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    return {"title": "Time to a usable kernel by layer", "png": _png(fig)}


GROUP_COLOURS = {
    "gateway": "#4c78a8",
    "kernels": "#54a24b",
    "hub": "#b279a2",
    "user servers": "#72b7b2",
    "proxy": "#f58518",
}


def _server_axes(axes, server_metrics, shift: float, window: tuple[float, float] | None) -> None:
    """CPU per group, then open fds per group (and hub servers running), on a clock shifted so
    that 0 is the client's first request: the server's story under the client's."""
    ax_cpu, ax_fd = axes
    groups = sorted({s.group for s in server_metrics.samples})
    for g in groups:
        pts = [
            (s.t + shift, s)
            for s in server_metrics.samples
            if s.group == g and (window is None or window[0] - 2 <= s.t + shift <= window[1] + 2)
        ]
        if not pts:
            continue
        xs = [x for x, _ in pts]
        colour = GROUP_COLOURS.get(g)
        cpu = [s.cpu_cores if s.cpu_cores is not None else float("nan") for _, s in pts]
        ax_cpu.plot(xs, cpu, "-", color=colour, label=g)
        fds = [s.fds for _, s in pts]
        if any(f is not None for f in fds):
            ys = [f if f is not None else float("nan") for f in fds]
            ax_fd.plot(xs, ys, "-", color=colour, label=g)
    ax_cpu.set_ylabel("CPU (cores)")
    ax_cpu.grid(alpha=0.3)
    ax_cpu.legend(fontsize="x-small", ncol=5, loc="upper left")
    ax_fd.set_ylabel("open fds")
    ax_fd.grid(alpha=0.3)
    hub = server_metrics.hub
    if hub is not None and hub.series.get("running_servers"):
        ax_h = ax_fd.twinx()
        pts = [(t + shift, v) for t, v in hub.series["running_servers"]]
        if window is not None:
            pts = [(x, v) for x, v in pts if window[0] - 2 <= x <= window[1] + 2]
        ax_h.step([x for x, _ in pts], [v for _, v in pts], where="post", color="grey", ls="--")
        ax_h.set_ylabel("hub: running servers", color="grey")


def storm_servers_chart(events: list[dict[str, Any]], server_metrics, title: str):
    """One storm's journeys, with the servers' CPU and open files beneath, on one clock."""
    if not events or server_metrics is None or not server_metrics.samples:
        return None
    plt = _plt()
    t0 = min(e["start"] for e in events)
    end = max(e["start"] + e["seconds"] for e in events) - t0
    fig, (ax_j, ax_cpu, ax_fd) = plt.subplots(3, 1, figsize=(6.4, 6.2), sharex=True)
    first: dict[str, float] = {}
    for e in events:
        first[e["journey"]] = min(first.get(e["journey"], e["start"]), e["start"])
    row_of = {j: i for i, j in enumerate(sorted(first, key=first.get))}
    for e in events:
        if e["phase"] in PHASE_COLOURS:
            colour = PHASE_COLOURS[e["phase"]] if e["ok"] else "red"
            ax_j.barh(row_of[e["journey"]], e["seconds"], left=e["start"] - t0, color=colour)
    ax_j.set_yticks([])
    ax_j.set_ylabel("journeys")
    _server_axes((ax_cpu, ax_fd), server_metrics, server_metrics.t0_epoch - t0, (0.0, end))
    ax_fd.set_xlabel("seconds since the storm's first request")
    return {"title": title, "png": _png(fig)}


def sessions_chart(doc: Sessions, server_metrics):
    """bench-ws --sessions: sessions held and execute p95 per second, the servers beneath."""
    timeline = doc.timeline
    if not timeline:
        return None
    plt = _plt()
    rows = 3 if server_metrics is not None and server_metrics.samples else 1
    fig, axes = plt.subplots(rows, 1, figsize=(6.4, 2.2 * rows + 0.6), sharex=True)
    ax = axes[0] if rows > 1 else axes
    xs = [p.t for p in timeline]
    ax.plot(xs, [p.sessions for p in timeline], "-", color="#4c78a8", label="sessions alive")
    ax.set_ylabel("sessions")
    ax2 = ax.twinx()
    p95 = [p.p95_ms if p.p95_ms is not None else float("nan") for p in timeline]
    ax2.plot(xs, p95, ".", color="#e45756")
    ax2.set_ylabel("execute p95 (ms)", color="#e45756")
    ax.grid(alpha=0.3)
    if rows > 1:
        _server_axes(axes[1:], server_metrics, server_metrics.t0_epoch - (doc.t0_epoch or 0), None)
    (axes[-1] if rows > 1 else ax).set_xlabel("seconds since the bench started")
    title = f"{doc.sessions_held} sessions under load, and the servers"
    return {"title": title, "png": _png(fig)}


def workers_chart(tests: list[dict[str, Any]], wall_s: float) -> dict[str, str] | None:
    """A parallel run: a row per xdist worker, a bar per test, coloured by suite, so the
    serial phase and a worker left waiting on another's long test are visible at a glance."""
    placed = [t for t in tests if t.get("worker") and t.get("start_s") is not None]
    if not placed:
        return None
    plt = _plt()
    workers = sorted({t["worker"] for t in placed})
    suites = sorted({t["suite"] for t in placed})
    colours = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(9.6, 0.5 * len(workers) + 1.6))
    for t in placed:
        i = suites.index(t["suite"])
        ax.barh(
            workers.index(t["worker"]),
            max(t["duration_s"], 0.05),
            left=t["start_s"],
            color=colours(i % 20),
            edgecolor="red" if t["outcome"] in ("failed", "error") else "none",
        )
    for i, suite in enumerate(suites):
        ax.barh(0, 0, color=colours(i % 20), label=suite)
    ax.set_yticks(range(len(workers)), workers)
    ax.set_xlim(0, wall_s)
    ax.set_xlabel("seconds since the run started (before it: nothing; gaps: no test running)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return {"title": "Workers: which test ran where and when", "png": _png(fig)}
