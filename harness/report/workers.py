"""Where a parallel run's wall time went: how many workers were busy, second by second.

Summed test durations say what the tests cost, not why the run took as long as it did: the
gap is workers waiting (for the serial phase, for the slowest worker's last test) and the
time no test runs at all (provisioning, collection, teardown). Both are read off the tests'
start times and workers, which every result carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Occupancy:
    wall_s: float  # the run's duration the figures cover
    busy_s: dict[str, float] = field(default_factory=dict)  # worker -> summed test time
    tests: dict[str, int] = field(default_factory=dict)  # worker -> tests run
    by_level: dict[int, float] = field(default_factory=dict)  # n busy workers -> seconds

    @property
    def mean_busy(self) -> float:
        """Workers busy on average over the wall time: the parallelism the run really had."""
        return sum(n * s for n, s in self.by_level.items()) / self.wall_s if self.wall_s else 0.0

    def lines(self) -> list[str]:
        out = [
            f"workers busy on average {self.mean_busy:.2f} of {len(self.busy_s)} "
            f"over {self.wall_s:.1f}s"
        ]
        levels = ", ".join(f"{n} busy {s:.1f}s" for n, s in sorted(self.by_level.items()))
        out.append(f"  time by busy workers: {levels}")
        for w in sorted(self.busy_s):
            out.append(f"  {w}: {self.tests[w]} tests, busy {self.busy_s[w]:.1f}s")
        return out


def occupancy(tests: list[dict], wall_s: float) -> Occupancy | None:
    """From results.json's tests (start_s, duration_s, worker); None for a serial run or a
    report written before tests carried their placement."""
    placed = [t for t in tests if t.get("worker") and t.get("start_s") is not None]
    if not placed:
        return None
    occ = Occupancy(wall_s=wall_s)
    edges: list[tuple[float, int]] = []
    for t in placed:
        w, start, dur = t["worker"], t["start_s"], t.get("duration_s") or 0.0
        occ.busy_s[w] = occ.busy_s.get(w, 0.0) + dur
        occ.tests[w] = occ.tests.get(w, 0) + 1
        edges += [(start, 1), (start + dur, -1)]
    edges.sort()
    level, last = 0, 0.0
    for at, step in edges:
        at = min(max(at, 0.0), wall_s)
        occ.by_level[level] = occ.by_level.get(level, 0.0) + max(0.0, at - last)
        level, last = level + step, max(last, at)
    occ.by_level[level] = occ.by_level.get(level, 0.0) + max(0.0, wall_s - last)
    occ.by_level = {n: round(s, 3) for n, s in occ.by_level.items() if s > 0}
    return occ
