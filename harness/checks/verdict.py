"""Failed, or could not tell: a verdict a release gate can trust.

A fixed time bound fails a correct deployment on a busy machine, and a gate that cries wolf
gets switched off. So a scenario with a time bound derives it from what this run measured on
the same hop (a small burst first), and when the bound is still exceeded while messages keep
arriving, the result is INCONCLUSIVE: a pytest skip whose reason starts with "INCONCLUSIVE:",
with the evidence (rates, counts, time since the last message). It is never a failure of the
deployment. A stall (nothing for a long time) or a loss (idle arrived, outputs missing) stays
a failure, with the evidence that proves it.

This module is the judgement (pace, bounds, what counts as inconclusive); ending a test that
way, and showing it as its own outcome in pytest's terminal, is eg_harness.fixtures.verdict's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "INCONCLUSIVE:"


def is_inconclusive(reason: str | None) -> bool:
    return bool(reason) and reason.removeprefix("Skipped: ").startswith(PREFIX)


@dataclass(frozen=True)
class Pace:
    """Messages per second one hop managed in a calibration burst of this run."""

    messages: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.messages / max(self.seconds, 1e-6)

    def bound(self, n: int, *, factor: float = 5.0, floor: float = 60.0) -> float:
        """Seconds `n` messages may take: `factor` times the measured pace, never below `floor`."""
        return max(floor, factor * n / self.per_second)

    def describe(self) -> str:
        return f"{self.per_second:.0f} msg/s in a {self.messages}-message calibration burst"


def calibrate(burst: Callable[[int], int], n: int = 500) -> Pace:
    """Time `burst(n)`, which must deliver n messages and return how many arrived."""
    t0 = time.monotonic()
    got = burst(n)
    return Pace(got, time.monotonic() - t0)
