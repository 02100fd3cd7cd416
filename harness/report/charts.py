"""Charts for the report, as base64 PNGs so report.html stays one self-contained file."""

from __future__ import annotations

import base64
import io
from typing import Any

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def latency_chart(steps: list[dict[str, Any]]) -> dict[str, str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    xs = [s["concurrency"] for s in steps]
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-"), ("max", "x--")):
        ys = [s["time_to_first_execute_s"][key] for s in steps]
        ax.plot(xs, [y if y is not None else float("nan") for y in ys], style, label=key)
    ax.set_xlabel("kernels requested at once")
    ax.set_ylabel("time to first execute (s)")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend()
    return {"title": "Time to first execute against concurrency", "png": _png(fig)}


def throughput_chart(steps: list[dict[str, Any]], ceiling: dict[str, Any]) -> dict[str, str]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    xs = [s["concurrency"] for s in steps]
    ax.plot(xs, [s["starts_per_s"] for s in steps], "o-", label="kernel starts per second")
    if ceiling.get("measured"):
        ax.axhline(
            ceiling["ceiling_starts_per_s"],
            ls="--",
            color="grey",
            label=f"CPU ceiling ({ceiling['ceiling_starts_per_s']:.2f}/s)",
        )
    errs = [s["concurrency"] for s in steps if s["failed"]]
    if errs:
        ax.scatter(
            errs,
            [s["starts_per_s"] for s in steps if s["failed"]],
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


def trend_chart(history: list[dict[str, Any]]) -> dict[str, str] | None:
    """p95 time-to-first-execute and throughput over runs, at the highest common concurrency."""
    common = None
    for h in history:
        levels = set(h["figures"].get("storms", {}))
        common = levels if common is None else common & levels
    if not common or len(history) < 2:
        return None
    level = max(common, key=int)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    xs = list(range(1, len(history) + 1))
    p95 = [h["figures"]["storms"][level]["p95_ttfe_s"] for h in history]
    ax.plot(xs, [v if v is not None else float("nan") for v in p95], "o-", color="#4c78a8")
    ax.set_ylabel("p95 time to first execute (s)", color="#4c78a8")
    ax.set_xlabel("run (oldest first)")
    ax2 = ax.twinx()
    ax2.plot(
        xs, [h["figures"]["storms"][level]["starts_per_s"] for h in history], "s--", color="#f58518"
    )
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
