"""`eg-harness diff` judges coverage: a B that ran nothing, never got past set-up, was
interrupted, left tests of A out or chose other tests is never "no regression, exit 0".

The B documents are shaped like the results.json of the runs issue 22 names (a typo'd -k, a
target that refuses the token, a config error, an interrupt, a typo'd --target); the self-tests
that make real ones belong to the verdict's own tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eg_harness.errors import EXIT_FAILED, EXIT_OK
from eg_harness.report import diff, html

SUITES = ["auth", "startup", "websocket"]


def _tests(suites: list[str], per_suite: int, outcome: str = "passed") -> list[dict]:
    return [
        {
            "nodeid": f"scenarios/{s}/test_{s}.py::test_{i}",
            "suite": s,
            "name": f"test_{i}",
            "outcome": outcome,
        }
        for s in suites
        for i in range(per_suite)
    ]


def _doc(
    run_id: str,
    tests: list[dict],
    verdict: dict | None,
    selection: dict | None = None,
    **extra,
) -> dict:
    doc = {"run_id": run_id, "target": {"kind": "local"}, "tests": tests, **extra}
    if verdict is not None:
        doc["verdict"] = verdict
    if selection is not None:
        doc["selection"] = selection
    return doc


def _selection(suites, keyword=None, markers=None, deselected=0) -> dict:
    not_run = [s for s in SUITES if s not in suites]
    return {
        "suites": list(suites),
        "suites_not_run": not_run,
        "keyword": keyword,
        "markers": markers,
        "deselected": deselected,
        "partial": bool(not_run or deselected),
    }


def _save(tmp_path: Path, name: str, doc: dict) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "results.json").write_text(json.dumps(doc))
    return d


def _full(tmp_path: Path) -> Path:
    return _save(
        tmp_path,
        "full",
        _doc(
            "full",
            _tests(SUITES, 10),
            {"status": "passed", "reason": "30 passed", "exit_code": 0},
            _selection(SUITES),
            pytest_exit_status=0,
        ),
    )


# The runs of issue 22's "done when", as their results.json would say.
BROKEN_RUNS = {
    "empty selection": _doc(
        "typo-k",
        [],
        {"status": "no-tests", "reason": "the selection ran no scenario", "exit_code": 2},
        _selection([], keyword="test_gatway_tokn", deselected=30),
        pytest_exit_status=5,
    ),
    "refused token": _doc(
        "refused",
        [],
        {
            "status": "error",
            "reason": "target error: the gateway refused the token (403)",
            "exit_code": 3,
        },
        _selection([]),
        pytest_exit_status=1,
    ),
    "config error": _doc(
        "config",
        [],
        {
            "status": "error",
            "reason": "target error: target config: gateway.url is missing",
            "exit_code": 2,
        },
        _selection([]),
        pytest_exit_status=1,
    ),
    "interrupted": _doc(
        "interrupted",
        _tests(["auth"], 10),
        {"status": "interrupted", "reason": "interrupted after 10 tests", "exit_code": 130},
        _selection(["auth"]),
        pytest_exit_status=2,
    ),
    "typo'd target": _doc(
        "nosuch",
        [],
        {
            "status": "error",
            "reason": "unknown target 'nosuch': choose local, existing or kind",
            "exit_code": 2,
        },
        None,
        pytest_exit_status=4,
    ),
}


@pytest.mark.parametrize("name", list(BROKEN_RUNS))
def test_a_full_run_against_a_run_that_proved_nothing_exits_1_with_the_reason(tmp_path, name):
    a, b = _full(tmp_path), _save(tmp_path, "b", BROKEN_RUNS[name])
    d = diff.diff(a, b)
    assert not d.regressed  # no test flipped from passed to failed ...
    assert d.exit_code == EXIT_FAILED  # ... yet B proved nothing: never "no regression, 0"
    [verdict] = [p for p in d.coverage.problems if p.kind == "verdict"]
    status = BROKEN_RUNS[name]["verdict"]["status"]
    reason = BROKEN_RUNS[name]["verdict"]["reason"]
    assert f"B's verdict is {status}: {reason}" in verdict.text
    assert not verdict.allowed_by_subset
    text = diff.render_text(d)
    last = " ".join(text.strip().splitlines()[-2:])  # the verdict line (rich may wrap it)
    assert "INCOMPLETE: B does not cover A: B's verdict is " in last and reason in last
    assert "no regression" not in text
    # --allow-subset accepts a part of A, never a B that ran nothing, errored or was stopped.
    assert diff.diff(a, b, allow_subset=True).exit_code == EXIT_FAILED
    page = html.render_diff(d)
    assert "<title>INCOMPLETE · diff" in page
    assert '<span class="badge verdict b-bad">INCOMPLETE</span>' in page


def test_tests_of_a_missing_from_b_are_named_counted_and_fail_unless_a_subset_is_allowed(
    tmp_path,
):
    a = _full(tmp_path)
    # B passed, but ran only auth: 20 of A's 30 tests never ran.
    b = _save(
        tmp_path,
        "b",
        _doc(
            "auth-only",
            _tests(["auth"], 10),
            {"status": "passed", "reason": "10 passed", "exit_code": 0},
            _selection(["auth"]),
        ),
    )
    d = diff.diff(a, b)
    assert d.exit_code == EXIT_FAILED and not d.regressed and d.headline == "INCOMPLETE"
    assert len(d.coverage.missing) == 20
    assert "scenarios/startup/test_startup.py::test_0" in d.coverage.missing
    kinds = {p.kind: p for p in d.coverage.problems}
    assert set(kinds) == {"missing tests", "selection"}
    assert kinds["missing tests"].text.startswith("20 test(s) of A did not run in B: ")
    assert "and 10 more" in kinds["missing tests"].text  # 10 named, the rest counted
    assert "B did not run suite(s) startup, websocket that A ran" in kinds["selection"].text
    assert "--allow-subset accepts" in diff.render_text(d)
    allowed = diff.diff(a, b, allow_subset=True)
    assert allowed.exit_code == EXIT_OK and allowed.coverage.complete
    assert "subset accepted (--allow-subset)" in diff.render_text(allowed)


def test_a_different_keyword_is_a_different_selection(tmp_path):
    tests = _tests(SUITES, 10)
    passed = {"status": "passed", "reason": "30 passed", "exit_code": 0}
    a = _save(tmp_path, "a", _doc("a", tests, passed, _selection(SUITES, keyword="start")))
    b = _save(tmp_path, "b", _doc("b", tests, passed, _selection(SUITES, keyword="stop")))
    d = diff.diff(a, b)
    assert d.coverage.missing == [] and d.exit_code == EXIT_FAILED
    assert d.coverage.selection == ["-k differs: A 'start', B 'stop'"]
    assert diff.diff(a, b, allow_subset=True).exit_code == EXIT_OK


def test_a_full_run_against_itself_is_complete(tmp_path):
    a = _full(tmp_path)
    d = diff.diff(a, a)
    assert d.coverage.problems == [] and d.exit_code == EXIT_OK and d.headline == "NO REGRESSION"
    assert diff.render_text(d).rstrip().endswith("no regression")


def test_counts_per_outcome_a_against_b_come_first(tmp_path):
    a = _full(tmp_path)
    tests = _tests(SUITES, 10)
    for t in tests[:3]:
        t["outcome"] = "failed"
    tests[3]["outcome"] = "skipped"
    b = _save(
        tmp_path,
        "b",
        _doc(
            "b",
            tests,
            {"status": "failed", "reason": "3 failed", "exit_code": 1},
            _selection(SUITES),
        ),
    )
    d = diff.diff(a, b)
    assert d.outcome_rows() == [
        ("passed", 30, 26),
        ("failed", 0, 3),
        ("skipped", 0, 1),
        ("total", 30, 30),
    ]
    text = diff.render_text(d)
    # The counts table is the first thing after the two sources.
    assert text.index("Tests per outcome") < text.index("Tests that changed")
    assert d.regressed and d.coverage.problems == [] and d.exit_code == EXIT_FAILED
    page = html.render_diff(d)
    assert page.index("Tests per outcome") < page.index("Tests that changed")
    assert "<tr><td>failed</td><td>0</td><td>3</td></tr>" in page


def test_a_b_without_a_verdict_is_reported_and_judged_from_its_own_facts(tmp_path):
    a = _full(tmp_path)
    # An older results.json: no verdict, no selection, but all of A's tests passed.
    old = _save(tmp_path, "old", _doc("old", _tests(SUITES, 10), None, pytest_exit_status=0))
    d = diff.diff(a, old)
    assert not d.b.verdict.recorded and d.b.verdict.status == "passed"
    [p] = d.coverage.problems
    assert p.kind == "no verdict" and p.allowed_by_subset and d.exit_code == EXIT_FAILED
    assert any("recorded no selection" in n for n in d.notes)
    assert diff.diff(a, old, allow_subset=True).exit_code == EXIT_OK
    # An older results.json of a run that ran nothing: no flag makes that a pass.
    empty = _save(tmp_path, "empty", _doc("empty", [], None, pytest_exit_status=5))
    e = diff.diff(a, empty, allow_subset=True)
    assert e.b.verdict.status == "no-tests" and e.exit_code == EXIT_FAILED
    [no_verdict] = [p for p in e.coverage.problems if p.kind == "no verdict"]
    assert not no_verdict.allowed_by_subset


def test_a_repeat_dir_is_as_bad_as_its_worst_repeat(tmp_path):
    a = _full(tmp_path)
    parent = tmp_path / "rep"
    passed = {"status": "passed", "reason": "30 passed", "exit_code": 0}
    stopped = {"status": "interrupted", "reason": "interrupted", "exit_code": 130}
    for i, v in enumerate((passed, stopped), 1):
        run = parent / f"run-{i}"
        run.mkdir(parents=True)
        doc = _doc(f"rep-{i}", _tests(SUITES, 10), v, _selection(SUITES))
        (run / "results.json").write_text(json.dumps(doc))
    (parent / "repeat.json").write_text(json.dumps({"runs": 2}))
    d = diff.diff(a, parent)
    assert d.b.verdict.status == "interrupted" and d.b.verdict.reason.startswith("rep-2: ")
    assert d.exit_code == EXIT_FAILED


def test_cli_exit_code_and_reason_with_json(tmp_path):
    a = _full(tmp_path)
    b = _save(tmp_path, "b", BROKEN_RUNS["refused token"])
    r = subprocess.run(
        [sys.executable, "-m", "eg_harness", "diff", str(a), str(b), "--json", "--allow-subset"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == EXIT_FAILED, r.stderr
    doc = json.loads(r.stdout)
    assert doc["coverage"]["complete"] is False
    assert doc["b"]["verdict"]["status"] == "error"
    assert "INCOMPLETE: B does not cover A" in r.stderr and "verdict" in r.stderr
