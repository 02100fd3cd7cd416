"""The run's verdict, decided here and nowhere else; every artifact prints it.

A CI gate reads artifacts, not the console. When each renderer judged the run for itself
(summary.md from failed tests only, report.html the same, the CLI from pytest's exit status),
a run that executed nothing, could not reach its target or was interrupted read "PASSED" on
every page while the CLI exited 2 or 3. So the judgement is data: :func:`decide` turns the
facts of a run (pytest's exit status, a target error, an interruption, the outcome counts)
into a :class:`Verdict`, ``results.json`` carries it, and summary.md, report.html, the
pytest-html page, junit.xml's properties, the step summary and the console's last line print
``verdict.status`` and ``verdict.reason`` as they are.

The rule, in order (the first that holds decides):

- ``error``: the run could not do its job (the target could not be made, configured or
  reached; pytest's own usage or internal error; a scenario that could not be collected;
  a bench whose figures are invalid). Exit 2 (configuration), 3 (target), 1 (collection)
  or 4 (invalid bench), as the cause says.
- ``interrupted``: Ctrl-C or SIGTERM ended it before its end. Exit 130.
- ``failed``: a test failed or errored (or a bench left something behind). Exit 1.
- ``no-tests``: nothing was proven: no test was selected, or none passed (all skipped,
  inconclusive or known defects). Exit 2: change the selection or the target.
- ``passed``: at least one test passed and none failed. Exit 0.

No pytest import (``harness/`` never imports it), so a saved results.json is judged the same
way long after the run (a document without a verdict gets one from its own facts).
"""

from __future__ import annotations

from typing import Literal

from eg_harness.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_TARGET,
    EXIT_USAGE,
)
from pydantic import BaseModel, ConfigDict

Status = Literal["passed", "failed", "error", "no-tests", "interrupted"]
STATUSES: tuple[str, ...] = ("passed", "failed", "error", "no-tests", "interrupted")


# pytest's ExitCode values (the numbers, so that no pytest import is needed).
PYTEST_OK, PYTEST_FAILED, PYTEST_INTERRUPTED, PYTEST_INTERNAL, PYTEST_USAGE, PYTEST_NO_TESTS = (
    0,
    1,
    2,
    3,
    4,
    5,
)


class Verdict(BaseModel):
    """What a gate reads: ``status`` (one of STATUSES), ``reason`` in words, and the exit code
    the harness ends with for this run."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    reason: str
    exit_code: int

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def word(self) -> str:
        """The heading every artifact shows: PASSED, FAILED, ERROR, NO TESTS, INTERRUPTED."""
        return self.status.replace("-", " ").upper()

    @property
    def line(self) -> str:
        """The console's last line."""
        return f"eg-harness: {self.word}: {self.reason} (exit {self.exit_code})"


class Selection(BaseModel):
    """What the run was asked to run, and what of the catalogue it left out."""

    model_config = ConfigDict(extra="forbid")

    suites: list[str]  # suites with at least one test in the results
    suites_not_run: list[str]  # suites of the catalogue (scenarios/) with none
    keyword: str | None = None  # pytest -k
    markers: str | None = None  # pytest -m
    deselected: int = 0  # tests -k / -m left out
    partial: bool = False  # a suite of the catalogue did not run, or tests were deselected

    @classmethod
    def of(
        cls,
        ran: list[str],
        catalogue: list[str],
        *,
        keyword: str | None = None,
        markers: str | None = None,
        deselected: int = 0,
    ) -> Selection:
        suites = sorted(set(ran))
        not_run = [s for s in sorted(catalogue) if s not in suites]
        return cls(
            suites=suites,
            suites_not_run=not_run,
            keyword=keyword or None,
            markers=markers or None,
            deselected=deselected,
            partial=bool(not_run) or deselected > 0,
        )

    def describe(self) -> str:
        """One line: what ran and what was left out."""
        parts = [f"suites {', '.join(self.suites) or '(none)'}"]
        if self.keyword:
            parts.append(f"-k {self.keyword!r}")
        if self.markers:
            parts.append(f"-m {self.markers!r}")
        if self.deselected:
            parts.append(f"{self.deselected} tests deselected")
        return " · ".join(parts)


def decide(
    *,
    counts: dict[str, int],
    exit_status: int | None = None,
    target_error: str | None = None,
    target_exit_code: int | None = None,
    interrupted: bool = False,
    collection_errors: list[str] | tuple[str, ...] = (),
    invalid: str | None = None,
    left_behind: str | None = None,
    secrets_found: list[str] | tuple[str, ...] = (),
) -> Verdict:
    """The verdict from the facts of a run (pure). ``counts``: outcome -> tests (a
    ``Summary``'s fields); ``exit_status``: pytest's (None for a bench); ``invalid``: why a
    bench's figures cannot be judged; ``left_behind``: what a bench left."""
    n = {o: int(counts.get(o, 0)) for o in counts}
    total = int(counts.get("total", sum(v for k, v in n.items() if k != "total")))
    bad = n.get("failed", 0) + n.get("error", 0)
    proven = n.get("passed", 0) + n.get("xpassed", 0)

    if secrets_found:
        return Verdict(
            status="error",
            reason=f"a secret was found in the report files {', '.join(secrets_found)}",
            exit_code=EXIT_FAILED,
        )
    if target_error:
        code = target_exit_code if target_exit_code in (EXIT_USAGE, EXIT_TARGET) else EXIT_TARGET
        what = "configured" if code == EXIT_USAGE else "reached"
        return Verdict(
            status="error",
            reason=f"the target could not be {what}, so no test ran: {_first(target_error)}",
            exit_code=code,
        )
    if collection_errors:
        return Verdict(
            status="error",
            reason=f"could not collect {', '.join(collection_errors)}: fix the scenario",
            exit_code=EXIT_FAILED,
        )
    if interrupted or exit_status == PYTEST_INTERRUPTED:
        done = (
            f"after {total} tests ended ({_tally(n)}): the rest of the selection did not run"
            if total
            else "before any test ended: nothing was proven"
        )
        return Verdict(
            status="interrupted", reason=f"interrupted {done}", exit_code=EXIT_INTERRUPTED
        )
    if exit_status in (PYTEST_INTERNAL, PYTEST_USAGE):
        what = "an internal error" if exit_status == PYTEST_INTERNAL else "a usage error"
        return Verdict(
            status="error",
            reason=f"pytest ended with {what} (exit status {exit_status}): see its output",
            exit_code=EXIT_USAGE,
        )
    if left_behind:
        return Verdict(status="failed", reason=f"left behind: {left_behind}", exit_code=EXIT_FAILED)
    if invalid:
        return Verdict(
            status="error",
            reason=f"the figures are not valid for a judgement: {invalid}",
            exit_code=EXIT_INVALID,
        )
    if bad:
        return Verdict(
            status="failed",
            reason=f"{bad} of {total} tests failed or errored ({_tally(n)})",
            exit_code=EXIT_FAILED,
        )
    if exit_status == PYTEST_FAILED:  # pytest counted a failure the outcomes do not show
        return Verdict(
            status="failed",
            reason=f"pytest reported a failure outside the tests ({_tally(n)})",
            exit_code=EXIT_FAILED,
        )
    if total == 0:
        return Verdict(
            status="no-tests",
            reason="the selection ran no test: check --suite, -k and -m",
            exit_code=EXIT_USAGE,
        )
    if proven == 0:
        return Verdict(
            status="no-tests",
            reason=f"no test passed ({_tally(n)}): nothing was proven on this target",
            exit_code=EXIT_USAGE,
        )
    others = "" if proven == total else f" ({_tally(n)})"
    return Verdict(
        status="passed", reason=f"{proven} of {total} tests passed{others}", exit_code=EXIT_OK
    )


def _tally(n: dict[str, int]) -> str:
    order = ("passed", "failed", "error", "skipped", "inconclusive", "xfailed", "xpassed")
    shown = [f"{n.get(o, 0)} {o}" for o in order if n.get(o, 0)]
    return ", ".join(shown) or "0 tests"


def _first(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else text
