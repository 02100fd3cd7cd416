"""One outcome per test item from pytest's phase reports, without importing pytest.

pytest reports each phase (setup, call, teardown) and each unittest sub-test separately, and
its own tallies count reports, not tests: a test that passes and then errors in teardown is
"1 passed, 1 error", and jupyter-kernel-test's sub-tests add passes and skips of their own.
The report counts test items instead (see ``model.COUNTING``); the plugin feeds every phase
report here and the pytest summary and junit.xml are brought in line with the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eg_harness.checks.verdict import is_inconclusive
from eg_harness.report.model import Subtest, TestResult, suite_of


@dataclass
class PhaseReport:
    """The facts of one pytest report the outcome depends on."""

    when: str  # "setup", "call", "teardown" or "collect"
    outcome: str  # pytest's: "passed", "failed" or "skipped"
    message: str | None = None
    duration: float = 0.0
    wasxfail: bool = False
    subtest: str | None = None  # the sub-test's description, for a sub-test report
    start: float | None = None  # epoch seconds the phase began (pytest's report.start)
    worker: str | None = None  # the xdist worker that ran it ("gw0"); None in a serial run


@dataclass
class ItemRecord:
    nodeid: str
    phases: list[PhaseReport] = field(default_factory=list)

    def add(self, phase: PhaseReport) -> None:
        self.phases.append(phase)

    def deciding_phase(self) -> PhaseReport | None:
        """The report whose outcome is the item's: the first failing setup/collect, a failed
        call, a failing teardown, else a skip, else the call. Sub-test reports never decide;
        their failures turn the call into a failure (see :func:`result`)."""
        main = [p for p in self.phases if p.subtest is None]
        for p in main:
            if p.when in ("setup", "collect") and p.outcome == "failed":
                return p
        for p in main:
            if p.when == "call" and p.outcome == "failed":
                return p
        for p in main:
            if p.when == "teardown" and p.outcome == "failed":
                return p
        for p in main:
            if p.outcome == "skipped":
                return p
        calls = [p for p in main if p.when == "call"]
        return calls[0] if calls else (main[0] if main else None)

    def subtests(self) -> list[Subtest]:
        return [
            Subtest(
                description=p.subtest or "",
                # pytest.xfail() inside a sub-test is a skip of that sub-test
                outcome="skipped" if p.outcome == "skipped" else p.outcome,  # type: ignore[arg-type]
                message=p.message if p.outcome != "passed" else None,
            )
            for p in self.phases
            if p.subtest is not None
        ]

    def result(self, doc: str | None = None, run_start: float | None = None) -> TestResult:
        subtests = self.subtests()
        failed_subs = [s for s in subtests if s.outcome == "failed"]
        decider = self.deciding_phase()
        outcome, message = "passed", None
        if decider is not None:
            outcome, message = _outcome(decider)
        if outcome in ("passed", "xpassed", "skipped") and failed_subs:
            outcome = "failed"
            message = subtest_failure_text(failed_subs)
        if outcome == "failed":
            late = [p for p in self.phases if p.when == "teardown" and p.outcome == "failed"]
            if late and late[0] is not decider:
                message = f"{message}\nteardown also failed: {late[0].message}"
        return TestResult(
            nodeid=self.nodeid,
            suite=suite_of(self.nodeid),
            name=self.nodeid.split("::", 1)[-1],
            outcome=outcome,  # type: ignore[arg-type]
            duration_s=round(sum(p.duration for p in self.phases if p.subtest is None), 3),
            **self._placement(run_start),
            message=message,
            doc=doc,
            subtests=subtests,
        )

    def _placement(self, run_start: float | None) -> dict:
        """When and where the item ran, for the workers' timeline: where a parallel run's time
        went is only visible from starts, not from durations."""
        starts = [p.start for p in self.phases if p.subtest is None and p.start is not None]
        workers = [p.worker for p in self.phases if p.worker]
        placed: dict = {"worker": workers[0] if workers else None}
        if starts and run_start is not None:
            placed["start_s"] = round(max(0.0, min(starts) - run_start), 3)
        return placed


def subtest_failure_text(failed: list[Subtest]) -> str:
    lines = [f"{len(failed)} sub-test(s) failed:"]
    lines += [f"- {s.description}: {s.message}" for s in failed]
    return "\n".join(lines)


def _outcome(p: PhaseReport) -> tuple[str, str | None]:
    if p.outcome == "failed":
        if p.when == "call":
            return "failed", p.message
        return "error", f"{p.when} failed: {p.message}"
    if p.outcome == "skipped":
        if p.wasxfail:
            return "xfailed", f"known defect, still present: {p.message}"
        if is_inconclusive(p.message):
            return "inconclusive", p.message
        return "skipped", p.message
    if p.wasxfail:
        return "xpassed", f"expected to fail but passed: {p.message}"
    return "passed", None
