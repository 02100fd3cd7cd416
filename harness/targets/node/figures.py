"""The node target's figures: what the cluster costs idle, and a kernel start phase by phase.

Idle cost is read from the cluster's own processes (what its Supervisor started or whose argv
names the state dir, the containerd shims, whose argv names containerd's socket dir, and
everything under them: the pods), so other work on the machine does not count. Until
2026-12-06 the shims were looked for by the state dir, which their argv does not name: the
idle figure then left the pods out. A start's phases are offsets from
its request on one time line: the harness's span gives requested, accepted (EG's 201, sent
once the launcher reported) and the first execute; the pod's events give scheduled and
container started (eg_harness.checks.layers, whole-second kubelet stamps clamped there).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

import psutil
from eg_harness.checks.layers import Breakdown, breakdown, cluster_milestones
from eg_harness.stats.percentiles import percentile
from eg_harness.targets.node import kept
from eg_harness.targets.node.config import Layout

# The phases the issue names, each an offset from "requested", and where it comes from.
PHASES = {
    "accepted": "span: EG's 201",
    "pod scheduled": "pod event Scheduled",
    "container started": "pod event Started",
    "kernel reported": "span: EG's 201 (EG answers once the launcher sent its ports)",
    "first execute": "span: first execute_reply",
}


# A Spark start (spark_python_kubernetes: spark-submit in cluster mode from EG's pod, the driver a
# pod, its executors pods the driver asks for), each phase an offset from "requested".
SPARK_PHASES = {
    "driver pod scheduled": "driver pod event Scheduled",
    "driver container started": "driver pod event Started",
    "kernel reported": "span: EG's 201 (sent once the driver's launcher reported its ports)",
    "executor pod scheduled": "the first executor pod's event Scheduled",
    "executor container started": "the first executor pod's event Started",
    "first execute": "span: first execute_reply of code that reads the SparkContext (lazy mode "
    "starts it beside the kernel; the execute waits for it)",
}


def cluster_processes(pids: Iterable[int], *markers: str) -> list[psutil.Process]:
    """The cluster's processes: `pids` (its components), every process whose argv names one of
    `markers` (its state dir; the containerd shims name only containerd's socket dir, outside
    it), and all their descendants (the pods under the shims), once each."""
    roots: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            roots[pid] = psutil.Process(pid)
        except psutil.Error:
            continue
    for proc in psutil.process_iter(["cmdline"]):
        try:
            argv = " ".join(proc.info["cmdline"] or [])
            if any(m in argv for m in markers):
                roots[proc.pid] = proc
        except psutil.Error:
            continue
    found: dict[int, psutil.Process] = {}
    for proc in roots.values():
        found[proc.pid] = proc
        try:
            for child in proc.children(recursive=True):
                found[child.pid] = child
        except psutil.Error:
            continue
    return list(found.values())


def _cpu_seconds(procs: Sequence[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def idle_usage(procs: Sequence[psutil.Process], window_s: float = 20.0) -> dict[str, float]:
    """Memory (RSS, MiB) and CPU (percent of one core) of the idle cluster over `window_s`."""
    before = _cpu_seconds(procs)
    t0 = time.monotonic()
    time.sleep(window_s)  # the measurement window itself, not a wait for anything
    elapsed = time.monotonic() - t0
    after = _cpu_seconds(procs)
    cpu = sum(after[p] - before[p] for p in after if p in before)
    rss = 0
    for proc in procs:
        try:
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return {
        "processes": len(procs),
        "rss_mib": round(rss / 2**20, 1),
        "cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
        "window_s": round(elapsed, 1),
    }


def phase_offsets(b: Breakdown) -> dict[str, float | None]:
    """One start's phases as seconds after its request (None: not seen)."""
    ms = b.milestones
    t0: datetime | None = ms.get("requested")

    def since(key: str) -> float | None:
        t = ms.get(key)
        return round((t - t0).total_seconds(), 3) if t is not None and t0 is not None else None

    return {
        "accepted": since("launcher_reported"),
        "pod scheduled": since("scheduled"),
        "container started": since("container_started"),
        "kernel reported": since("launcher_reported"),
        "first execute": since("first_execute"),
    }


def span_offsets(span: dict) -> dict[str, float | None]:
    """A start's phases from its span alone (a target without pods: the local one)."""
    phases = span.get("phases", {})
    return {
        "accepted": phases.get("accepted"),
        "pod scheduled": None,
        "container started": None,
        "kernel reported": phases.get("accepted"),
        "first execute": phases.get("first_execute_reply"),
    }


def spark_phase_offsets(
    span: dict, driver, driver_events: list, executors: Sequence[tuple[object, list]]
) -> dict[str, float | None]:
    """One Spark start's phases as seconds after its request (None: not seen). `executors`:
    each executor pod with its events; the first of them to reach a phase gives it."""
    b = breakdown(span, driver, driver_events)
    base = phase_offsets(b)
    t0 = b.milestones.get("requested")

    def first(key: str) -> float | None:
        stamps = [cluster_milestones(pod, events)[0].get(key) for pod, events in executors]
        stamps = [t for t in stamps if t is not None]
        if not stamps or t0 is None:
            return None
        # Kubelet stamps are whole seconds: one before the request is the request.
        return round(max((min(stamps) - t0).total_seconds(), 0.0), 3)

    return {
        "driver pod scheduled": base["pod scheduled"],
        "driver container started": base["container started"],
        "kernel reported": base["kernel reported"],
        "executor pod scheduled": first("scheduled"),
        "executor container started": first("container_started"),
        "first execute": base["first execute"],
    }


def summary(
    starts: Sequence[dict[str, float | None]], phases: Iterable[str] = PHASES
) -> dict[str, dict[str, float | None]]:
    """p50 and p95 of each phase over the starts that saw it, with how many did."""
    out = {}
    for phase in phases:
        values = [s[phase] for s in starts if s.get(phase) is not None]
        out[phase] = {
            "n": len(values),
            "p50": round(percentile(values, 50), 3) if values else None,
            "p95": round(percentile(values, 95), 3) if values else None,
        }
    return out


def table(
    columns: dict[str, dict[str, dict[str, float | None]]], phases: Iterable[str] = PHASES
) -> str:
    """A plain-text table: one row per phase, p50/p95 (and how many starts saw it) per
    column."""
    names = list(columns)
    head = f"{'phase (s after requested)':28}" + "".join(
        f"{n + ' p50':>14}{n + ' p95':>14}{'n':>4}" for n in names
    )
    lines = [head]
    for phase in phases:
        row = f"{phase:28}"
        for name in names:
            cell = columns[name][phase]
            for q in ("p50", "p95"):
                v = cell[q]
                row += f"{('-' if v is None else f'{v:.2f}'):>14}"
            row += f"{cell['n']:>4}"
        lines.append(row)
    return "\n".join(lines)


def state_marker(state_dir: Path) -> str:
    return str(Path(state_dir).resolve())


def cluster_finder(target) -> Callable[[], list[psutil.Process]] | None:
    """How to list the node cluster under `target` (its own, or the kept one it attached to),
    for a sampler that looks again each time (pods come and go); None for any other target."""
    if getattr(target, "kind", None) != "node":
        return None
    cluster = getattr(target, "cluster", None)
    if cluster is not None:
        markers = cluster_markers(cluster.lay)
        return lambda: cluster_processes(
            [p.pid for p in cluster.supervisor.procs if p.alive()], *markers
        )
    doc = kept.find()
    if doc is None:
        return None
    # A kept cluster's components belong to the `up` process; each names the state dir or
    # containerd's socket dir.
    markers = cluster_markers(Layout(Path(doc["state_dir"])))
    return lambda: cluster_processes([], *markers)


def cluster_markers(lay: Layout) -> tuple[str, str]:
    """What the argv of each of a cluster's processes names: its state dir (the components)
    or containerd's socket dir (the shims, which containerd starts detached: no children of
    its, and their argv names only the socket)."""
    return state_marker(lay.root), str(lay.sockets)
