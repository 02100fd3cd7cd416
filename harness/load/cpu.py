"""The two CPU clocks of a load run: the target's, and the load generator's.

The target's CPU (local: the gateway process and its reaped children, i.e. every kernel it
started) gives the cost of one kernel start, hence the best rate the machine could sustain. The
generator's CPU says whether the numbers describe the target at all: locust runs on one core per
process (gevent), so a locust process that kept a core busy was the bottleneck and the run is
marked invalid.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import psutil
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.abilities import ProcessView
from eg_harness.targets.base import Target

GENERATOR_BUSY_LIMIT = 0.80  # cores: above this on average, a locust process was the bottleneck
REAP_TIMEOUT_S = 30.0
SAMPLE_EVERY_S = 0.25


# component -> (group of its own CPU, group of its reaped children's CPU)
GROUPS = {
    "gateway": ("gateway", "kernels"),
    "hub": ("hub", "user servers"),
    "proxy": ("proxy",) * 2,
}
GATEWAY_GROUPS = ("gateway", "kernels")  # what a gateway journey's start costs


def _components(target: Target) -> dict[str, int]:
    view = target.ability(ProcessView)
    if view is None:
        return {}
    return {name: pid for name, pid in view.component_pids().items() if name in GROUPS}


def cpu_by_group(target: Target) -> dict[str, float] | None:
    """CPU each component and every child it has reaped have used so far, by group (gateway,
    kernels, hub, user servers, proxy); None when the processes are not visible."""
    pids = _components(target)
    if "gateway" not in pids:
        return None
    out: dict[str, float] = {}
    for name, pid in pids.items():
        own, children = GROUPS[name]
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[own] = out.get(own, 0.0) + t.user + t.system
        out[children] = out.get(children, 0.0) + t.children_user + t.children_system
    return out


def target_cpu_seconds(target: Target) -> float | None:
    """CPU the gateway and every kernel it has reaped have used so far (local target only)."""
    groups = cpu_by_group(target)
    return None if groups is None else sum(groups.get(g, 0.0) for g in GATEWAY_GROUPS)


def _children(target: Target) -> dict[str, int]:
    out = {}
    for name, pid in _components(target).items():
        with contextlib.suppress(psutil.Error):
            out[name] = len(psutil.Process(pid).children())
    return out


class TargetCpu:
    """The target's CPU spent between construction and `spent()`, by group: the gateway and
    its kernels (a gateway journey's cost), and the hub, its user servers and the proxy (what
    a hub journey costs besides)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.before = cpu_by_group(target)
        self.children_before = _children(target)
        self.by_group: dict[str, float] | None = None

    def spent(self) -> float | None:
        """The gateway's and its kernels' CPU; `by_group` holds every group's afterwards."""
        if self.before is None:
            return None
        self._wait_reaped()
        after = cpu_by_group(self.target)
        if after is None:
            return None
        self.by_group = {g: round(after[g] - self.before.get(g, 0.0), 3) for g in sorted(after)}
        return round(sum(self.by_group.get(g, 0.0) for g in GATEWAY_GROUPS), 3)

    def _wait_reaped(self) -> None:
        # A child's CPU lands in its parent's children_* only once the parent has waited for
        # it (EG its kernels, the hub its user servers). One still exiting after the bound is
        # left out (the figure is then a little low).
        def reaped() -> bool:
            now = _children(self.target)
            return all(n <= self.children_before.get(c, 0) for c, n in now.items())

        with contextlib.suppress(WaitTimeout):
            wait_for(
                "the gateway and the hub to reap the load's kernels and servers",
                reaped,
                REAP_TIMEOUT_S,
                max_interval=0.2,
            )


class GeneratorWatch:
    """Samples cumulative CPU of the generator processes (wall time, cpu seconds) while they
    run, so their load can be judged over the load window only: locust's own start-up (imports,
    a second of a full core) is not load and must not invalidate a short storm."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                self.procs.append(psutil.Process(pid))
        self.series: dict[int, list[tuple[float, float]]] = {p.pid: [] for p in self.procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while True:
            now = time.time()
            for p in self.procs:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    self.series[p.pid].append((now, t.user + t.system))
            if self._stop.wait(SAMPLE_EVERY_S):  # a sampling period, not a wait for a state
                return

    def halt(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def judge(self, window: tuple[float, float] | None) -> dict[str, Any]:
        """The busiest process's average cores inside `window` (epoch seconds; None: all)."""
        self.halt()
        return judge(self.series, window, processes=len(self.procs))


def judge(
    series: dict[int, list[tuple[float, float]]],
    window: tuple[float, float] | None,
    *,
    processes: int,
) -> dict[str, Any]:
    busiest, total = 0.0, 0.0
    for samples in series.values():
        inside = [s for s in samples if window is None or window[0] <= s[0] <= window[1]]
        if len(inside) < 2:
            continue
        (t_a, c_a), (t_b, c_b) = inside[0], inside[-1]
        total += c_b - c_a
        busiest = max(busiest, (c_b - c_a) / max(t_b - t_a, 1e-6))
    return {
        "processes": processes,
        "cpu_s_in_window": round(total, 3),
        "busiest_process_cores": round(busiest, 3),
        "limit_cores": GENERATOR_BUSY_LIMIT,
        "valid": busiest < GENERATOR_BUSY_LIMIT,
    }


PROBE_WORK_S = 0.005  # CPU time of one probe sample
PROBE_EVERY_S = 0.1


class ContentionProbe:
    """How much slower this machine runs CPU work right now than an idle core would.

    A thread repeatedly runs a few milliseconds of pure-Python work and divides the wall time
    it took by the CPU time it got: 1.0 is an idle core, 3.0 means a runnable process got a
    third of a core. On a shared machine that factor drifts by tens of percent between two
    benches minutes apart, and every kernel start's CPU-bound part stretches with it; dividing
    a time by the factor measured over the same seconds gives a figure that moves with the
    deployment rather than with the neighbours (the gate's "adjusted" figures).
    """

    def __init__(self) -> None:
        self.series: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while True:
            w0, c0 = time.perf_counter(), time.thread_time()
            n = 0
            while time.thread_time() - c0 < PROBE_WORK_S:
                n += 1  # the work itself: count until the thread got its CPU time
            wall, spent = time.perf_counter() - w0, time.thread_time() - c0
            if spent > 0:
                self.series.append((time.time(), wall / spent))
            if self._stop.wait(PROBE_EVERY_S):  # a sampling period, not a wait for a state
                return

    def halt(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def judge(self, window: tuple[float, float] | None) -> dict[str, Any]:
        """The mean slowdown inside `window` (epoch seconds; None: all samples)."""
        self.halt()
        inside = [r for t, r in self.series if window is None or window[0] <= t <= window[1]]
        if not inside:
            return {"slowdown": None, "samples": 0}
        return {"slowdown": round(sum(inside) / len(inside), 3), "samples": len(inside)}


class ProcessCpu:
    """CPU named processes (the gateway, a kernel) spend from construction on, as cores busy
    over a window the caller names: a flood that outruns the gateway says whether the gateway's
    one thread was saturated or merely behind."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.start = time.monotonic()
        self._before: dict[str, tuple[psutil.Process, float]] = {}
        for name, pid in pids.items():
            if pid is None:  # not running (psutil.Process(None) would be this process)
                continue
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                self._before[name] = (proc, _own_cpu(proc))

    def cores(self, until: float) -> dict[str, float]:
        """Cores each process kept busy from construction to `until` (a monotonic time)."""
        window = max(until - self.start, 1e-3)
        out = {}
        for name, (proc, before) in self._before.items():
            with contextlib.suppress(psutil.Error):
                out[name] = round((_own_cpu(proc) - before) / window, 2)
        return out


def _own_cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system
