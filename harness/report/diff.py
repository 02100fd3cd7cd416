"""`eg-harness diff RUN_A RUN_B`: what changed between two runs, and whether it is more than noise.

An operator upgrading a deployment runs the suites before and after and asks: which tests broke,
which got fixed, which stopped running, which known upstream bugs are gone, which versions
moved, and did anything get slower. The first questions are joins by test id. The last is only
answerable against the runs' own noise: a run made with ``--repeat`` (``eg-harness run --repeat``
leaves one results.json per repeat; ``eg-harness bench --repeat`` keeps each level's per-repeat
figures) has a spread, and a change counts only when its bootstrap interval lies wholly beyond
no-change (eg_harness.stats.noise). Without repeats the change is shown and marked as not judged.

Works on any two runs: suite against suite, bench against bench, across targets (what one
target could not run shows up as skipped or missing, not as a regression).

"No regression" is only worth something when B ran what A ran. So the diff also judges
coverage: tests of A absent from B, a B whose recorded verdict is not passed or failed (it ran
no test, never got past set-up, or was interrupted), a B with no verdict at all (a results.json
from an older harness), and a B whose selection (suites, -k, -m) differs from A's are each
named and counted, and end the diff with exit 1. ``--allow-subset`` accepts missing tests and a
different selection (B is meant to be a part of A); it never accepts a B that ran nothing,
errored or was interrupted.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from eg_harness.errors import EXIT_FAILED, EXIT_OK, ConfigError
from eg_harness.report.model import BAD_OUTCOMES, OUTCOMES, Results, outcome_rank
from eg_harness.report.spans import aggregate_spans
from eg_harness.stats import noise
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table

SCHEMA = "eg-harness-diff/1"
MACHINE = "machine slowdown (x idle)"
FAMILY_CONFIDENCE = 0.95  # for all figure comparisons of one diff together (Bonferroni)

Category = Literal[
    "newly failing",
    "fixed",
    "upstream bug fixed",
    "newly skipped",
    "newly inconclusive",
    "runs again",
    "only in A",
    "only in B",
]
REGRESSING: frozenset[str] = frozenset({"newly failing"})
CATEGORY_ORDER: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
# The verdicts (results.json ``verdict.status``) whose tests a diff can compare: the run
# executed its selection. no-tests, error and interrupted runs proved nothing about B.
JUDGED: frozenset[str] = frozenset({"passed", "failed"})
MISSING_SHOWN = 10  # missing test ids named in the text; diff.json lists all


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Verdict(_Strict):
    """A side's verdict: as its results.json recorded it, or derived for an older one."""

    status: str  # passed, failed, error, no-tests, interrupted
    reason: str = ""
    exit_code: int | None = None
    recorded: bool = True  # False: the results.json predates the verdict field


class Side(_Strict):
    """One run as the diff read it: a results.json, or the repeats of one `--repeat` run."""

    source: str
    run_ids: list[str]
    kind: str
    target: str
    started_at: str | None = None
    repeats: int  # independent measurements of the figures (repeats, or a bench's rounds)
    summary: dict[str, int] = Field(default_factory=dict)
    verdict: Verdict
    selection: dict[str, Any] | None = None  # results.json ``selection``, None when older


class Problem(_Strict):
    """One reason B does not cover A: a diff with one not allowed exits 1."""

    kind: Literal["missing tests", "no verdict", "verdict", "selection"]
    text: str
    short: str  # the same in a few words, for the last line
    allowed_by_subset: bool  # --allow-subset accepts it (never a B that ran nothing)


class Coverage(_Strict):
    missing: list[str]  # test ids of A that B did not run at all
    selection: list[str]  # how B's selection differs from A's, in words
    problems: list[Problem]
    allow_subset: bool
    complete: bool  # no problem left after --allow-subset


class TestChange(_Strict):
    __test__ = False

    category: Category
    nodeid: str
    name: str
    suite: str
    a: str | None  # outcome(s) on side A, e.g. "passed" or "failed 1/3"
    b: str | None
    message: str | None = None


class VersionRow(_Strict):
    component: str
    a: str | None
    b: str | None
    changed: bool


class FigureChange(_Strict):
    group: Literal["span", "throughput"]
    name: str
    figure: str
    unit: str = "s"
    a: list[float]
    b: list[float]
    change: dict[str, Any]  # noise.Change as data
    verdict: str
    regressed: bool
    text: str


class RunDiff(_Strict):
    schema_: str = Field(SCHEMA, alias="schema")
    a: Side
    b: Side
    counts: dict[str, int]
    tests: list[TestChange]
    unchanged: int
    versions: list[VersionRow]
    figures: list[FigureChange]
    figure_confidence: float
    notes: list[str] = Field(default_factory=list)
    coverage: Coverage
    regressed: bool
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.regressed or not self.coverage.complete else EXIT_OK

    @property
    def headline(self) -> str:
        """The diff's verdict in one word, for the page title and the badge."""
        if self.regressed:
            return "REGRESSED"
        if not self.coverage.complete:
            return "INCOMPLETE"
        return "NO REGRESSION"

    def outcome_rows(self) -> list[tuple[str, int, int]]:
        """Tests per outcome, A against B (summed over repeats), and the totals last."""
        rows = [
            (o, self.a.summary.get(o, 0), self.b.summary.get(o, 0))
            for o in OUTCOMES
            if self.a.summary.get(o, 0) or self.b.summary.get(o, 0)
        ]
        total = ("total", sum(self.a.summary.values()), sum(self.b.summary.values()))
        return [*rows, total]

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# -- reading ------------------------------------------------------------------------------------
def load_side(path: str | Path) -> tuple[Side, list[Results]]:
    """A run's report dir, its results.json, or the parent dir of `eg-harness run --repeat`."""
    p = Path(path)
    if p.is_dir() and (p / "results.json").is_file():
        files = [p / "results.json"]
    elif p.is_dir() and (p / "repeat.json").is_file():
        files = sorted(p.glob("run-*/results.json"), key=lambda f: _repeat_no(f.parent.name))
        if not files:
            raise ConfigError(f"{p}: a --repeat dir without any run-*/results.json: rerun it")
    elif p.is_file():
        files = [p]
    elif p.exists():
        raise ConfigError(
            f"{p} holds no results.json: pass a run's report dir, its results.json, or the "
            "parent dir of an `eg-harness run --repeat` run"
        )
    else:
        raise ConfigError(f"{p} not found: pass a run's report dir or its results.json")
    read = [_read(f) for f in files]
    runs = [r for r, _doc in read]
    kinds = {r.kind for r in runs}
    first = runs[0]
    bench_repeats = first.throughput.repeats if first.throughput is not None else 1
    summary: dict[str, int] = {}
    for r in runs:
        for outcome, n in r.summary.by_outcome():
            summary[outcome] = summary.get(outcome, 0) + n
    side = Side(
        source=str(p),
        run_ids=[r.run_id for r in runs],
        kind="/".join(sorted(kinds)),
        target=first.target.kind,
        started_at=first.started_at,
        repeats=len(runs) if len(runs) > 1 else bench_repeats,
        summary=summary,
        verdict=side_verdict([(r, doc.get("verdict")) for r, doc in read]),
        selection=next((doc["selection"] for _r, doc in read if doc.get("selection")), None),
    )
    return side, runs


def derived_verdict(r: Results) -> Verdict:
    """For a results.json written before runs recorded their verdict: the model's own derived
    verdict (report/verdict.decide over the document's facts) when the model has one, else
    what its tests and pytest's exit status say (2 interrupted, 3/4 error, 5 no tests)."""
    status = getattr(getattr(r, "verdict", None), "status", None)
    if status is None:
        status = {2: "interrupted", 3: "error", 4: "error", 5: "no-tests"}.get(
            r.pytest_exit_status or 0
        )
    if status is None:
        status = "no-tests" if not r.tests else ("failed" if r.failed else "passed")
    return Verdict(
        status=status,
        reason=f"no verdict recorded (an older results.json); its tests and exit status say "
        f"{status}",
        exit_code=None,
        recorded=False,
    )


def side_verdict(runs: list[tuple[Results, dict[str, Any] | None]]) -> Verdict:
    """One verdict for a side: the first repeat that proved nothing, else the first without a
    recorded verdict, else failed if any repeat failed."""
    verdicts = []
    for r, raw in runs:
        if isinstance(raw, dict) and raw.get("status"):
            v = Verdict(
                status=str(raw["status"]),
                reason=str(raw.get("reason") or ""),
                exit_code=raw.get("exit_code"),
            )
        else:
            v = derived_verdict(r)
        if len(runs) > 1:
            v = v.model_copy(update={"reason": f"{r.run_id}: {v.reason}"})
        verdicts.append(v)
    for pick in (
        lambda v: v.status not in JUDGED,
        lambda v: not v.recorded,
        lambda v: v.status == "failed",
    ):
        found = next((v for v in verdicts if pick(v)), None)
        if found is not None:
            return found
    return verdicts[0]


def _repeat_no(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[-1])
    except ValueError:
        return 0


def _read(f: Path) -> tuple[Results, dict[str, Any]]:
    """The typed results and the raw document: ``verdict`` and ``selection`` are read from the
    document itself, so a diff reads results.json files from before and after they existed."""
    try:
        doc = json.loads(f.read_text())
        if not isinstance(doc, dict):
            raise ConfigError(
                f"{f} is not an eg-harness results document (not a JSON object): pass the "
                "results.json of an eg-harness run or bench"
            )
        body = {
            k: v
            for k, v in doc.items()
            if k in Results.model_fields or k not in ("verdict", "selection")
        }
        return Results.model_validate(body), doc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{f} cannot be read ({exc.__class__.__name__}): pass a results.json"
        ) from None
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ConfigError(
                f"{f} is not an eg-harness results document ({where}: {first['msg']}): "
                "pass the results.json of an eg-harness run or bench"
            ) from None
        raise ConfigError(f"{f} is not JSON: pass the results.json of an eg-harness run") from None


# -- tests --------------------------------------------------------------------------------------
def _outcomes(runs: list[Results]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in runs:
        for t in r.tests:
            out.setdefault(t.nodeid, []).append(t)
    return out


def _label(tests: list[Any], n_runs: int) -> str:
    outcomes = [t.outcome for t in tests]
    if len(set(outcomes)) == 1 and len(outcomes) == n_runs:
        return outcomes[0]
    worst = min(outcomes, key=outcome_rank)
    return f"{worst} {outcomes.count(worst)}/{n_runs}"


def _strict_xpass(t: Any) -> bool:
    return t.outcome in BAD_OUTCOMES and "XPASS(strict)" in (t.message or "")


def _category(a: list[Any], b: list[Any]) -> str | None:
    if not a:
        return "only in B"
    if not b:
        return "only in A"
    a_bad = any(t.bad for t in a)
    b_bad = any(t.bad for t in b)
    a_xfail = any(t.outcome == "xfailed" for t in a)
    if a_xfail and any(_strict_xpass(t) or t.outcome == "xpassed" for t in b):
        return "upstream bug fixed"
    if b_bad and not a_bad:
        return "newly failing"
    if a_bad and not b_bad:
        return "fixed"
    a_set, b_set = {t.outcome for t in a}, {t.outcome for t in b}
    if b_set == {"skipped"} and "skipped" not in a_set:
        return "newly skipped"
    if "inconclusive" in b_set and "inconclusive" not in a_set:
        return "newly inconclusive"
    if a_set == {"skipped"} and b_set & {"passed", "xfailed"}:
        return "runs again"
    return None


def test_changes(a_runs: list[Results], b_runs: list[Results]) -> tuple[list[TestChange], int]:
    a, b = _outcomes(a_runs), _outcomes(b_runs)
    changes, unchanged = [], 0
    for nodeid in sorted(set(a) | set(b)):
        ta, tb = a.get(nodeid, []), b.get(nodeid, [])
        cat = _category(ta, tb)
        if cat is None:
            unchanged += 1
            continue
        ref = (tb or ta)[0]
        msg = next((t.message for t in tb if t.bad or t.outcome != "passed"), None)
        changes.append(
            TestChange(
                category=cat,
                nodeid=nodeid,
                name=ref.name,
                suite=ref.suite,
                a=_label(ta, len(a_runs)) if ta else None,
                b=_label(tb, len(b_runs)) if tb else None,
                message=(msg or "")[:500] or None,
            )
        )
    changes.sort(key=lambda c: (CATEGORY_ORDER.index(c.category), c.nodeid))
    return changes, unchanged


# -- coverage -----------------------------------------------------------------------------------
def _words(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def selection_changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """How B's selection differs from A's, one phrase each; none when either is unrecorded
    (the missing tests still show what B did not run)."""
    if not a or not b:
        return []
    out = []
    sa, sb = set(a.get("suites") or []), set(b.get("suites") or [])
    if sa - sb:
        out.append(f"B did not run suite(s) {_words(sa - sb)} that A ran")
    if sb - sa:
        out.append(f"B ran suite(s) {_words(sb - sa)} that A did not")
    for key, flag in (("keyword", "-k"), ("markers", "-m")):
        if (a.get(key) or None) != (b.get(key) or None):
            out.append(
                f"{flag} differs: A {a.get(key) or '(none)'!r}, B {b.get(key) or '(none)'!r}"
            )
    if not out and bool(b.get("partial")) and not a.get("partial"):
        out.append("B is a partial run, A was not")
    if out and a.get("deselected") != b.get("deselected"):
        out.append(f"deselected: A {a.get('deselected')}, B {b.get('deselected')}")
    return out


def coverage(
    side_a: Side,
    side_b: Side,
    a_runs: list[Results],
    b_runs: list[Results],
    allow_subset: bool = False,
) -> Coverage:
    """Whether B covers A: what of A's B did not run, whether B ran at all, whether it chose
    the same tests. Each reason is a Problem; --allow-subset accepts the ones that say B is a
    part of A, never one that says B proved nothing."""
    in_b = {t.nodeid for r in b_runs for t in r.tests}
    missing = sorted({t.nodeid for r in a_runs for t in r.tests} - in_b)
    problems = []
    v = side_b.verdict
    if not v.recorded:
        problems.append(
            Problem(
                kind="no verdict",
                text=f"B records no verdict (a results.json from an older harness); its tests "
                f"and exit status say {v.status}",
                short=f"B records no verdict (derived: {v.status})",
                allowed_by_subset=v.status in JUDGED,
            )
        )
    elif v.status not in JUDGED:
        problems.append(
            Problem(
                kind="verdict",
                text=f"B's verdict is {v.status}"
                + (f": {v.reason}" if v.reason else "")
                + " (B proved nothing to compare)",
                short=f"B's verdict is {v.status}" + (f" ({v.reason})" if v.reason else ""),
                allowed_by_subset=False,
            )
        )
    if missing:
        shown = ", ".join(missing[:MISSING_SHOWN])
        more = f" and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
        problems.append(
            Problem(
                kind="missing tests",
                text=f"{len(missing)} test(s) of A did not run in B: {shown}{more}",
                short=f"{len(missing)} of A's tests did not run in B",
                allowed_by_subset=True,
            )
        )
    changes = selection_changes(side_a.selection, side_b.selection)
    if changes:
        problems.append(
            Problem(
                kind="selection",
                text="B's selection differs from A's: " + "; ".join(changes),
                short="B's selection differs from A's",
                allowed_by_subset=True,
            )
        )
    complete = all(allow_subset and p.allowed_by_subset for p in problems)
    return Coverage(
        missing=missing,
        selection=changes,
        problems=problems,
        allow_subset=allow_subset,
        complete=complete,
    )


def coverage_line(c: Coverage) -> str | None:
    """The diff's coverage verdict in one line (None: B covers A)."""
    if not c.problems:
        return None
    refused = [p for p in c.problems if not (c.allow_subset and p.allowed_by_subset)]
    if refused:
        hint = (
            " (--allow-subset accepts missing tests and a different selection)"
            if all(p.allowed_by_subset for p in refused) and not c.allow_subset
            else ""
        )
        return "INCOMPLETE: B does not cover A: " + "; ".join(p.short for p in refused) + hint
    return "subset accepted (--allow-subset): " + "; ".join(p.short for p in c.problems)


# -- versions -----------------------------------------------------------------------------------
def version_rows(a: Results, b: Results) -> list[VersionRow]:
    va, vb = a.target.versions, b.target.versions
    return [
        VersionRow(component=k, a=va.get(k), b=vb.get(k), changed=va.get(k) != vb.get(k))
        for k in sorted(set(va) | set(vb))
    ]


# -- figures ------------------------------------------------------------------------------------
def _span_figures(runs: list[Results]) -> dict[str, list[float]]:
    """Per span group, its p50 total in each repeat: one figure per independent run."""
    out: dict[str, list[float]] = {}
    for r in runs:
        for row in aggregate_spans(r.spans):
            if row["p50"] is None:
                continue
            key = " / ".join(x for x in (row["name"], row["kernelspec"], row["hop"]) if x)
            out.setdefault(key, []).append(row["p50"])
    return out


_BENCH_FIGURES = (
    ("p95 time to first execute", "p95_ttfe_s", "higher_is_worse", True, "s"),
    ("p50 time to first execute", "p50_ttfe_s", "higher_is_worse", True, "s"),
    (
        "p50 time to first execute, adjusted for machine load",
        "p50_ttfe_adjusted_s",
        "higher_is_worse",
        True,
        "s",
    ),
    # The machine's own slowdown (load/cpu.ContentionProbe): context for the raw times, never
    # a regression of the deployment.
    (MACHINE, "machine_slowdown", "higher_is_worse", True, "x"),
    ("throughput", "starts_per_s", "lower_is_worse", True, "starts/s"),
    ("error rate", "error_rate", "higher_is_worse", False, ""),
)


def _bench_levels(runs: list[Results]) -> dict[str, dict[str, list[float]]]:
    """Per bench level, each figure repeat by repeat (a bench's rounds, or several benches)."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        if r.throughput is None:
            continue
        for level, figs in r.throughput.figures().levels().items():
            for _name, key, *_rest in _BENCH_FIGURES:
                out.setdefault(level, {}).setdefault(key, []).extend(figs.samples(key))
    return out


def figure_changes(
    a_runs: list[Results], b_runs: list[Results]
) -> tuple[list[FigureChange], float]:
    pairs: list[tuple[str, str, str, str, bool, str, list[float], list[float]]] = []
    sa, sb = _span_figures(a_runs), _span_figures(b_runs)
    for key in sorted(set(sa) & set(sb)):
        pairs.append(("span", key, "p50 total", "higher_is_worse", True, "s", sa[key], sb[key]))
    ba, bb = _bench_levels(a_runs), _bench_levels(b_runs)
    for level in sorted(set(ba) & set(bb), key=_level_order):
        for label, key, direction, relative, unit in _BENCH_FIGURES:
            if not ba[level].get(key) and not bb[level].get(key):
                continue  # benches made before the figure existed
            pairs.append(
                (
                    "throughput",
                    level,
                    label,
                    direction,
                    relative,
                    unit,
                    ba[level][key],
                    bb[level][key],
                )
            )
    # Many figures at once: each is judged at a stricter level so that, together, a diff of
    # two runs of the same thing cries wolf no more often than 1 - FAMILY_CONFIDENCE.
    confidence = 1 - (1 - FAMILY_CONFIDENCE) / max(len(pairs), 1)
    out = []
    for group, name, figure, direction, relative, unit, a, b in pairs:
        c = noise.compare(
            a,
            b,
            direction=direction,
            relative=relative,
            confidence=confidence,
            statistic=noise.REPEAT_STATISTIC,
        )
        out.append(
            FigureChange(
                group=group,
                name=name,
                figure=figure,
                unit=unit,
                a=a,
                b=b,
                change=c.to_dict(),
                verdict=VERDICTS[c.verdict],
                regressed=c.regressed and figure != MACHINE,
                text=_change_text(c),
            )
        )
    return out, confidence


# The diff asks "more than noise?", not "past a limit?": its own words for noise.compare's verdicts.
VERDICTS = {
    "regressed": "worse beyond noise",
    "improved": "better beyond noise",
    "ok": "within noise",
    "unsure": "within noise",
    "no spread": "not judged (no repeats)",
    "too few": "not judged (too few repeats)",
    "missing": "missing",
}


def _change_text(c: noise.Change) -> str:
    if c.change is None:
        return "-"

    def fmt(v: float) -> str:
        return f"{v * 100:+.0f}%" if c.relative else f"{v:+.3g}"

    if c.low is None:
        return f"{fmt(c.change)} (no spread: {c.n_a} vs {c.n_b} repeat(s))"
    return f"{fmt(c.change)} (CI {fmt(c.low)}..{fmt(c.high)})"


def _level_order(level: str) -> tuple[int, int]:
    head, _, n = level.partition(" ")
    return (1, 0) if head == "churn" else (0, int(n or 0))


# -- the diff -----------------------------------------------------------------------------------
def diff(path_a: str | Path, path_b: str | Path, allow_subset: bool = False) -> RunDiff:
    side_a, a_runs = load_side(path_a)
    side_b, b_runs = load_side(path_b)
    return judge(side_a, a_runs, side_b, b_runs, allow_subset)


def judge(
    side_a: Side,
    a_runs: list[Results],
    side_b: Side,
    b_runs: list[Results],
    allow_subset: bool = False,
) -> RunDiff:
    """The diff of two read runs: test changes, figures against noise, and coverage."""
    tests, unchanged = test_changes(a_runs, b_runs)
    figures, confidence = figure_changes(a_runs, b_runs)
    counts = {c: sum(1 for t in tests if t.category == c) for c in CATEGORY_ORDER}
    notes = []
    if side_a.target != side_b.target:
        notes.append(
            f"different targets ({side_a.target} vs {side_b.target}): tests one target cannot "
            "run show as skipped or missing, not as regressions (missing ones count against "
            "coverage: --allow-subset accepts them)"
        )
    if side_a.verdict.status not in JUDGED:
        notes.append(
            f"A's verdict is {side_a.verdict.status} ({side_a.verdict.reason}): A proved "
            "nothing for B to be compared with"
        )
    suite_runs = "suite" in side_a.kind and "suite" in side_b.kind  # benches have none
    if suite_runs and (side_a.selection is None or side_b.selection is None):
        which = " and ".join(n for n, s_ in (("A", side_a), ("B", side_b)) if s_.selection is None)
        notes.append(
            f"{which} recorded no selection (an older results.json): selections not compared; "
            "missing tests still are"
        )
    if side_a.kind != side_b.kind:
        notes.append(f"different kinds of run ({side_a.kind} vs {side_b.kind})")
    if figures and min(side_a.repeats, side_b.repeats) < 2:
        notes.append(
            "figure changes cannot be judged against noise: "
            + ("neither run" if max(side_a.repeats, side_b.repeats) < 2 else "one run")
            + " was repeated (make both with --repeat 3 or more)"
        )
    elif figures and min(side_a.repeats, side_b.repeats) < 5:
        notes.append(
            f"with {min(side_a.repeats, side_b.repeats)} repeats a side the intervals are wide: "
            "a figure counts as changed only when it moved by more than the repeats' spread; "
            "more repeats tighten them"
        )
    regressed = any(t.category in REGRESSING for t in tests) or any(f.regressed for f in figures)
    return RunDiff(
        a=side_a,
        b=side_b,
        counts=counts,
        tests=tests,
        unchanged=unchanged,
        versions=version_rows(a_runs[0], b_runs[0]),
        figures=figures,
        figure_confidence=round(confidence, 6),
        notes=notes,
        coverage=coverage(side_a, side_b, a_runs, b_runs, allow_subset),
        regressed=regressed,
    )


# -- rendering ----------------------------------------------------------------------------------
def _vals(values: Iterable[float], unit: str) -> str:
    vs = list(values)
    return noise.spread(vs) + (f" {unit}" if len(vs) == 1 and unit else "")


def figure_row(f: FigureChange) -> list[str]:
    return [f.group, f.name, f.figure, _vals(f.a, f.unit), _vals(f.b, f.unit), f.verdict, f.text]


FIGURE_COLUMNS = ["group", "what", "figure", "A", "B", "verdict", "change"]


def render_text(d: RunDiff, width: int = 160) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False, color_system=None)
    con.print(
        f"A: {d.a.source} ({d.a.kind} on {d.a.target}, {d.a.repeats} repeat(s))\n"
        f"B: {d.b.source} ({d.b.kind} on {d.b.target}, {d.b.repeats} repeat(s))"
    )
    t = Table(title="Tests per outcome")
    for c in ("outcome", "A", "B"):
        t.add_column(c, justify="left" if c == "outcome" else "right")
    for outcome, n_a, n_b in d.outcome_rows():
        t.add_row(outcome, str(n_a), str(n_b))
    con.print(t)
    for name, side in (("A", d.a), ("B", d.b)):
        v = side.verdict
        recorded = "" if v.recorded else " (derived: no verdict recorded)"
        con.print(f"verdict {name}: {v.status}{recorded}" + (f": {v.reason}" if v.reason else ""))
        if side.selection:
            con.print(f"selection {name}: {selection_text(side.selection)}")
    for p in d.coverage.problems:
        accepted = d.coverage.allow_subset and p.allowed_by_subset
        con.print(f"coverage: {p.text}" + (" [accepted: --allow-subset]" if accepted else ""))
    changed = ", ".join(f"{n} {c}" for c, n in d.counts.items() if n) or "none"
    con.print(f"tests: {changed}; {d.unchanged} unchanged")
    if d.tests:
        t = Table(title="Tests that changed")
        for c in ("change", "test", "A", "B", "message (B)"):
            t.add_column(c, overflow="fold")
        for c in d.tests:
            t.add_row(c.category, c.nodeid, c.a or "-", c.b or "-", (c.message or "")[:160])
        con.print(t)
    if d.versions:
        t = Table(title="Versions")
        for c in ("component", "A", "B", ""):
            t.add_column(c)
        for v in d.versions:
            t.add_row(v.component, v.a or "-", v.b or "-", "changed" if v.changed else "")
        con.print(t)
    if d.figures:
        t = Table(title=f"Figures (each at {d.figure_confidence:.2%} confidence)")
        for c in FIGURE_COLUMNS:
            t.add_column(c, overflow="fold")
        for f in d.figures:
            t.add_row(*figure_row(f))
        con.print(t)
    for n in d.notes:
        con.print(f"note: {n}")
    regressions = [t.nodeid for t in d.tests if t.category in REGRESSING] + [
        f"{f.name} {f.figure}" for f in d.figures if f.regressed
    ]
    cover = coverage_line(d.coverage)
    if regressions:
        con.print(f"REGRESSED: {len(regressions)}: " + "; ".join(regressions))
    if cover:
        con.print(cover)
    if not regressions and d.coverage.complete:
        con.print("no regression" + (" in the tests both ran" if d.coverage.problems else ""))
    return buf.getvalue()


def selection_text(sel: dict[str, Any]) -> str:
    """A recorded selection in the words of the command line."""
    parts = [f"suites {', '.join(sel.get('suites') or []) or '(none)'}"]
    if sel.get("keyword"):
        parts.append(f"-k {sel['keyword']!r}")
    if sel.get("markers"):
        parts.append(f"-m {sel['markers']!r}")
    parts.append(f"{sel.get('deselected', 0)} deselected")
    if sel.get("suites_not_run"):
        parts.append(f"not run: {', '.join(sel['suites_not_run'])}")
    if sel.get("partial"):
        parts.append("partial run")
    return "; ".join(parts)
