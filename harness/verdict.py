"""Failed, or could not tell: a verdict a release gate can trust.

A fixed time bound fails a correct deployment on a busy machine, and a gate that cries wolf
gets switched off. So a scenario with a time bound derives it from what this run measured on
the same hop (a small burst first), and when the bound is still exceeded while messages keep
arriving, the result is INCONCLUSIVE: a pytest skip whose reason starts with "INCONCLUSIVE:",
with the evidence (rates, counts, time since the last message). It is never a failure of the
deployment. A stall (nothing for a long time) or a loss (idle arrived, outputs missing) stays
a failure, with the evidence that proves it.

Also a pytest plugin (entry point `eg_harness_verdict`): the terminal shows inconclusive
results as their own outcome, counted in the summary line and listed with their reasons.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

PREFIX = "INCONCLUSIVE:"


def inconclusive(reason: str) -> NoReturn:
    """End the test as 'this run could not tell', with the evidence in `reason`."""
    import pytest

    pytest.skip(f"{PREFIX} {reason}")


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


def timed_out(exc, what: str, evidence: str) -> NoReturn:
    """Judge a channels ReplyTimeout: a stall fails, a stream still flowing is inconclusive."""
    if exc.stalled:
        raise AssertionError(f"{what} stalled ({evidence}): {exc}") from None
    inconclusive(f"{what} still arriving when the bound ran out: {evidence}")


# -- pytest plugin ---------------------------------------------------------------------------
def _reason(report) -> str | None:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    return None


def pytest_report_teststatus(report, config):
    if not hasattr(report, "wasxfail") and is_inconclusive(_reason(report)):
        return "inconclusive", "I", "INCONCLUSIVE"
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reports = terminalreporter.stats.get("inconclusive", [])
    if not reports:
        return
    terminalreporter.section("inconclusive: this run could not tell (not a failure)", sep="-")
    for report in reports:
        reason = _reason(report).removeprefix("Skipped: ").removeprefix(PREFIX).strip()
        terminalreporter.write_line(f"INCONCLUSIVE {report.nodeid} - {reason}")
