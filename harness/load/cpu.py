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


def _gateway_pid(target: Target) -> int | None:
    view = target.ability(ProcessView)
    return view.gateway_pid() if view is not None else None


def target_cpu_seconds(target: Target) -> float | None:
    """CPU the gateway and every child it has reaped have used so far (local target only)."""
    pid = _gateway_pid(target)
    if pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system + t.children_user + t.children_system


def _gateway_children(target: Target) -> int | None:
    pid = _gateway_pid(target)
    if pid is None:
        return None
    try:
        return len(psutil.Process(pid).children())
    except psutil.Error:
        return None


class TargetCpu:
    """The target's CPU spent between construction and `spent()`, kernels included."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.before = target_cpu_seconds(target)
        self.children_before = _gateway_children(target) or 0

    def spent(self) -> float | None:
        if self.before is None:
            return None
        self._wait_reaped()
        after = target_cpu_seconds(self.target)
        return None if after is None else round(after - self.before, 3)

    def _wait_reaped(self) -> None:
        # Kernel CPU lands in the gateway's children_* only once EG has waited for them. A
        # kernel still exiting after the bound is left out (the figure is then a little low).
        def reaped() -> bool:
            now = _gateway_children(self.target)
            return now is None or now <= self.children_before

        with contextlib.suppress(WaitTimeout):
            wait_for(
                "the gateway to reap the load's kernels", reaped, REAP_TIMEOUT_S, max_interval=0.2
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
