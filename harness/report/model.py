"""The results document (``results.json``): one typed, versioned model every producer builds
and every renderer reads.

A suite run (``eg_harness.fixtures.plugin.build_results``) and a benchmark (eg_harness.load.bench
``results_document``) both produce it, ``eg-harness report`` re-reads it, and
``reports/results.schema.json`` publishes it for other tools. Validation happens once, here,
so renderers can trust every field instead of defending against each one.

Schema history:

- 1: an untyped dict; ``summary`` was counted per producer (the bench left it empty).
- 2: this model. ``summary`` is derived from ``tests`` and checked against them (a saved
  document whose counts disagree with its tests is refused); outcomes add ``xpassed``;
  each test carries its ``subtests``, counted apart under ``summary.subtests``; ``kind`` says
  whether a suite run or a bench wrote it; collection errors are tests with outcome ``error``;
  ``cleanup`` is ``null`` when it was not recorded; ``throughput`` (bench) and ``load_runs``
  (suites) keep the load package's own summaries. Outcome ``inconclusive`` (a skip whose
  reason starts with "INCONCLUSIVE:") is counted apart from ``skipped``.
  Later, without a version bump (optional fields only): ``server_metrics`` (what the servers
  said about themselves during a bench: CPU, memory, open files and connections per component
  group, JupyterHub's /hub/metrics) and ``sessions`` (``bench-ws --sessions``'s figures).
  Added without a version bump (optional fields, old documents stay valid): ``kind``
  ``upgrade`` and its ``upgrade`` section (eg-harness upgrade), and ``phase`` (``before`` /
  ``after`` an operator's own upgrade, ``eg-harness run --phase``).
  Typed without a version bump: ``load_runs``, ``throughput`` and ``sessions``
  (eg_harness.report.bench_results); every document written before validates and writes back
  unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from eg_harness.report.bench_results import Level, Sessions, Throughput, read_throughput
from eg_harness.report.verdict import Selection, Verdict, decide
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 2

Outcome = Literal["passed", "failed", "error", "skipped", "inconclusive", "xfailed", "xpassed"]
OUTCOMES: tuple[str, ...] = (
    "passed",
    "failed",
    "error",
    "skipped",
    "inconclusive",
    "xfailed",
    "xpassed",
)
BAD_OUTCOMES = frozenset({"failed", "error"})
SubtestOutcome = Literal["passed", "failed", "skipped"]

COUNTING = (
    "one count per test item (pytest node id); unittest sub-tests are counted apart under "
    "'subtests', and a failed sub-test fails its test; a test that passed but failed in "
    "setup or teardown is an error; 'inconclusive' means this run could not tell (a bound "
    "derived from the run's own measurements ran out while data was still arriving), never a "
    "failure"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(BaseModel):
    """What the run ran against. Targets may describe more facts than listed; they are kept
    (and shown) rather than refused, because a target knows its deployment best."""

    model_config = ConfigDict(extra="allow")

    kind: str
    endpoints: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    capabilities: dict[str, bool | int | float | str | None] = Field(default_factory=dict)
    faults: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None  # why the target could not be provisioned or reached


class Subtest(_Strict):
    """One ``self.subTest(...)`` block of a unittest-style test (jupyter-kernel-test)."""

    description: str
    outcome: SubtestOutcome
    message: str | None = None


class TestResult(_Strict):
    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    suite: str
    name: str
    outcome: Outcome
    duration_s: float = 0.0
    start_s: float | None = None  # seconds from the run's start to the item's setup
    worker: str | None = None  # xdist worker ("gw0"), None in a serial run
    message: str | None = None
    doc: str | None = None
    subtests: list[Subtest] = Field(default_factory=list)

    @property
    def bad(self) -> bool:
        return self.outcome in BAD_OUTCOMES


class SubtestCounts(_Strict):
    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0


class Summary(_Strict):
    total: int = 0
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0
    inconclusive: int = 0
    xfailed: int = 0
    xpassed: int = 0
    subtests: SubtestCounts = Field(default_factory=SubtestCounts)
    counting: str = COUNTING

    @classmethod
    def of(cls, tests: Iterable[TestResult]) -> Summary:
        """The only place outcomes are counted; every artifact shows these numbers."""
        counts = dict.fromkeys(OUTCOMES, 0)
        subs = dict.fromkeys(("passed", "failed", "skipped"), 0)
        total = 0
        for t in tests:
            total += 1
            counts[t.outcome] += 1
            for s in t.subtests:
                subs[s.outcome] += 1
        return cls(
            total=total,
            **counts,
            subtests=SubtestCounts(total=sum(subs.values()), **subs),
        )

    def by_outcome(self) -> list[tuple[str, int]]:
        return [(o, getattr(self, o)) for o in OUTCOMES]


class Span(_Strict):
    """A timed sequence of phases (offsets in seconds from the first), e.g. a kernel start."""

    name: str
    test: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    start: str | None = None
    phases: dict[str, float] = Field(default_factory=dict)
    ok: bool | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        """An unfinished span (no ``ok``) counts as good only if it recorded no error, so it
        never silently improves the statistics."""
        return (not self.error) if self.ok is None else self.ok

    @property
    def total_s(self) -> float | None:
        return list(self.phases.values())[-1] if self.phases else None

    def attr_text(self, key: str) -> str:
        value = self.attrs.get(key)
        return "" if value is None else str(value)

    @field_validator("phases")
    @classmethod
    def _finite(cls, phases: dict[str, float]) -> dict[str, float]:
        bad = [k for k, v in phases.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"phase offsets must be finite numbers: {bad}")
        return phases


class Metric(_Strict):
    name: str
    value: float | None
    unit: str = ""
    attrs: dict[str, Any] = Field(default_factory=dict)


class Table(_Strict):
    """A finding a suite reports as a table (e.g. which WebSocket protocol each hop chose)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


class Chart(_Strict):
    """A PNG inlined as a data: URI (the page stays one file), so only plain base64 is let in:
    anything else would be written into an HTML attribute."""

    title: str
    png: str = Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$")


class GroupSample(_Strict):
    """One component group (gateway, kernels, hub, user servers, proxy) at one moment."""

    t: float  # seconds since ServerMetrics.t0_epoch
    group: str
    cpu_cores: float | None  # CPU used since the previous sample, in cores (None: first)
    rss_mb: float
    fds: int | None = None  # open file descriptors (None: not readable here)
    connections: int | None = None  # TCP connections of the group's own processes
    processes: int = 0


class GroupPeak(_Strict):
    """A group's extremes over the sampled window: what a capacity plan needs."""

    group: str
    cpu_cores_max: float
    cpu_cores_mean: float
    rss_mb_max: float
    fds_max: int | None = None
    connections_max: int | None = None
    processes_max: int = 0


class HistogramFigure(_Strict):
    """A Prometheus histogram over the bench window (its first scrape subtracted)."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    count: float
    sum: float
    p50: float | None = None  # estimated from buckets, like PromQL's histogram_quantile
    p95: float | None = None


class HubMetrics(_Strict):
    """What JupyterHub's /hub/metrics said during the bench."""

    url: str
    scrapes: int = 0
    errors: list[str] = Field(default_factory=list)
    # name -> [[t, value], ...]: running servers, spawns by outcome, requests, over time
    series: dict[str, list[list[float]]] = Field(default_factory=dict)
    histograms: list[HistogramFigure] = Field(default_factory=list)
    concurrent_spawn_limit: int | None = None  # as configured, when the target knows it


class ServerMetrics(_Strict):
    """Server-side figures sampled beside the client's spans, on the same clock (epoch
    seconds), so a chart can lay them on a storm's timeline."""

    interval_s: float
    t0_epoch: float
    source: str  # how the processes were seen ("ProcessView of the local target", ...)
    groups: list[GroupPeak] = Field(default_factory=list)
    samples: list[GroupSample] = Field(default_factory=list)
    hub: HubMetrics | None = None
    notes: list[str] = Field(default_factory=list)


class UpgradeUser(_Strict):
    """What one user kept and saw during one upgrade step (harness/checks/upgrade.py)."""

    user: str
    server_kept: bool = False
    server_version: str = ""
    route_kept: bool = False
    kernels_kept: int = 0
    state_kept: int = 0
    websockets_kept: int = 0
    websocket_end: str | None = None
    errors: list[str] = Field(default_factory=list)
    first_error_s: float | None = None
    recovered_s: float | None = None  # 0: never interrupted; None: no working cell in time
    recovered_by: str = ""


class UpgradeStep(_Strict):
    """One operator step of an upgrade and the facts gathered around it."""

    step: str
    action: str
    from_versions: str = ""
    to_versions: str = ""
    users: int = 0
    kernels: int = 0
    websockets: int = 0
    persistence: bool = False
    cleanup_servers: bool = False
    operator_s: float = 0.0
    step_error: str | None = None
    outlived: list[str] = Field(default_factory=list)
    orphans: list[str] = Field(default_factory=list)
    per_user: list[UpgradeUser] = Field(default_factory=list)
    # The gateway's address polled through the step (harness/upgrade/poller.py); None: not polled.
    gateway_polls: int = 0
    gateway_polls_failed: int = 0
    gateway_downtime_s: float | None = None  # the longest stretch without an answer
    gateway_poll_errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # what the operator's step reported


class Upgrade(_Strict):
    """An upgrade A -> B with live users: each step's facts, and the suites run on B."""

    from_versions: dict[str, str]
    to_versions: dict[str, str]
    recover_timeout_s: float
    steps: list[UpgradeStep] = Field(default_factory=list)
    suites_on_b: str | None = None  # the report dir of the suites run on the upgraded stack
    suites_on_b_summary: dict[str, int] | None = None
    suites_on_b_exit: int | None = None


class Results(_Strict):
    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["suite", "bench", "upgrade"] = "suite"
    phase: Literal["before", "after"] | None = None  # around an operator's own upgrade
    run_id: str
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    command: str | None = None
    pytest_exit_status: int | None = None
    # Required in the published schema: every reader reads this, never re-derives it.
    verdict: Verdict
    selection: Selection | None = None  # suite runs: what ran and what did not
    target: Target
    summary: Summary = Field(default_factory=Summary)
    tests: list[TestResult] = Field(default_factory=list)
    spans: list[Span] = Field(default_factory=list)
    metrics: list[Metric] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    charts: list[Chart] = Field(default_factory=list)
    load_runs: dict[str, Level] = Field(default_factory=dict)  # a suite's load machinery
    throughput: Throughput | None = None  # a bench's levels, or a workload's objectives
    sessions: Sessions | None = None  # bench-ws --sessions: held, latencies, ratios
    server_metrics: ServerMetrics | None = None
    upgrade: Upgrade | None = None
    cleanup: dict[str, list[str | int]] | None = None
    diagnostics: list[str] = Field(default_factory=list)

    @classmethod
    def produced(
        cls,
        kind: Literal["suite", "bench", "upgrade"],
        *,
        run_id: str,
        command: str | Sequence[str],
        target: Target | Mapping[str, object],
        started: float | datetime | str | None = None,
        finished: float | datetime | str | None = None,
        duration_s: float | None = None,
        cleanup: Mapping[str, list[str | int]] | None = None,
        **sections: Any,
    ) -> Results:
        """The one constructor of the fields every producer fills (a suite run, a bench, a
        workload, bench-ws --sessions, an upgrade, a target refused before pytest), filled one
        way: times as given (an epoch float becomes UTC "...Z", a datetime its ISO form), the
        duration measured from an epoch start when not given, the command as one line. The
        sections (tests, tables, throughput, ...) are each producer's own."""
        if duration_s is None and isinstance(started, int | float):
            duration_s = round(time.time() - started, 3)
        return cls(
            kind=kind,
            run_id=run_id,
            command=command if isinstance(command, str) else " ".join(command),
            target=target if isinstance(target, Target) else Target.model_validate(target),
            started_at=_stamp(started),
            finished_at=_stamp(finished),
            duration_s=duration_s,
            cleanup=dict(cleanup) if cleanup is not None else None,
            **sections,
        )

    @model_validator(mode="before")
    @classmethod
    def _derive_summary(cls, data: Any) -> Any:
        """Producers leave ``summary`` out; a saved document must agree with its own tests."""
        if isinstance(data, dict) and "summary" not in data:
            tests = [TestResult.model_validate(t) for t in data.get("tests") or []]
            data = {**data, "summary": Summary.of(tests).model_dump()}
        if isinstance(data, dict) and data.get("verdict") is None:
            data = {**data, "verdict": _derived_verdict(data)}
        return data

    @model_validator(mode="after")
    def _summary_matches_tests(self) -> Results:
        expected = Summary.of(self.tests)
        # The counts must agree; the rule's wording may have been edited since it was saved.
        if self.summary.model_dump(exclude={"counting"}) != expected.model_dump(
            exclude={"counting"}
        ):
            raise ValueError(
                f"summary {self.summary.model_dump(exclude={'counting'})} disagrees with the "
                f"tests, which count {expected.model_dump(exclude={'counting'})}"
            )
        return self

    @property
    def failed(self) -> bool:
        return any(t.bad for t in self.tests)

    @property
    def exit_code(self) -> int:
        """Process exit status for a run: CI gates on it (the verdict's)."""
        return self.verdict.exit_code

    @property
    def cleanup_left(self) -> dict[str, list[str | int]]:
        return {k: v for k, v in (self.cleanup or {}).items() if v}

    def suites(self) -> list[tuple[str, list[TestResult]]]:
        """Tests per suite, suites with failures first and failures first within a suite:
        the reader came for them."""
        groups: dict[str, list[TestResult]] = {}
        for t in self.tests:
            groups.setdefault(t.suite, []).append(t)
        ordered = sorted(groups.items(), key=lambda kv: not any(t.bad for t in kv[1]))
        return [(s, sorted(m, key=lambda t: outcome_rank(t.outcome))) for s, m in ordered]

    def slowest(self, n: int = 15) -> list[TestResult]:
        """Where the time went: the longest tests (setup and teardown included), longest first."""
        return sorted(self.tests, key=lambda t: t.duration_s, reverse=True)[:n]

    def suite_counts(self) -> list[tuple[str, dict[str, int], float]]:
        """(suite, tests per outcome, summed test seconds) per suite that ran, in suite order:
        the table on the first screen of every report."""
        rows: dict[str, tuple[dict[str, int], list[float]]] = {}
        for t in self.tests:
            counts, seconds = rows.setdefault(t.suite, (dict.fromkeys(OUTCOMES, 0), [0.0]))
            counts[t.outcome] += 1
            seconds[0] += t.duration_s
        return [(s, c, round(sec[0], 3)) for s, (c, sec) in sorted(rows.items())]

    def time_by_suite(self) -> list[tuple[str, float, int]]:
        """(suite, summed test seconds, tests), most time first. In a parallel run the sum is
        worker time, more than the wall time it took."""
        totals: dict[str, list] = {}
        for t in self.tests:
            entry = totals.setdefault(t.suite, [0.0, 0])
            entry[0] += t.duration_s
            entry[1] += 1
        return sorted(((s, v[0], v[1]) for s, v in totals.items()), key=lambda x: -x[1])


def _derived_verdict(data: Mapping[str, Any]) -> Verdict:
    """The verdict of a document its producer did not judge (a bench, an upgrade, a
    results.json saved before verdicts existed), from the document's own facts through the
    one rule (report/verdict.decide). A bench keeps its judgement: anything left behind
    fails it, figures its own checks call invalid are an error (exit 4), a failed step fails."""
    summary = data["summary"]
    counts = summary.model_dump() if isinstance(summary, BaseModel) else dict(summary)
    counts.pop("subtests", None)
    counts.pop("counting", None)
    target = data.get("target")
    error = target.error if isinstance(target, Target) else (target or {}).get("error")
    kind = data.get("kind", "suite")
    left = None
    invalid = None
    if kind != "suite":
        cleanup = data.get("cleanup") or {}
        left = "; ".join(f"{k}: {v}" for k, v in cleanup.items() if v) or None
        throughput = data.get("throughput")
        if isinstance(throughput, dict):
            throughput = read_throughput(throughput)
        sessions = data.get("sessions")
        if isinstance(sessions, dict):
            sessions = Sessions.model_validate(sessions)
        if throughput is not None and not throughput.valid:
            invalid = "; ".join(throughput.invalid_reasons) or "invalid bench"
        elif sessions is not None and not sessions.generator.valid:
            invalid = "the load generator was the bottleneck"
    return decide(
        counts=counts,
        exit_status=data.get("pytest_exit_status"),
        target_error=error,
        left_behind=left,
        invalid=invalid,
    )


def _stamp(t: float | datetime | str | None) -> str | None:
    """A producer's time as results.json writes it."""
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, datetime):
        return t.isoformat()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def outcome_rank(outcome: str) -> int:
    order = {
        "failed": 0,
        "error": 1,
        "xpassed": 2,
        "inconclusive": 3,
        "skipped": 4,
        "xfailed": 5,
        "passed": 6,
    }
    return order.get(outcome, 7)


def suite_of(nodeid: str) -> str:
    """The suite a test belongs to: the folder under ``scenarios/``, else its file."""
    parts = nodeid.split("::", 1)[0].split("/")
    if "scenarios" in parts:
        i = parts.index("scenarios")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return parts[-1] if parts[-1] else "(other)"


def json_schema() -> dict[str, object]:
    """The published schema (reports/results.schema.json) of what ``results.json`` holds."""
    schema = Results.model_json_schema(mode="serialization")
    schema["title"] = "eg-harness results.json"
    return schema
