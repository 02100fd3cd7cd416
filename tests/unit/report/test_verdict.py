"""The one verdict (eg_harness.report.verdict): the rule, and every renderer printing it as it
is."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from eg_harness.report.html import render_html, render_verdict_banner
from eg_harness.report.junit import add_properties
from eg_harness.report.markdown import render_summary_md
from eg_harness.report.model import Results
from eg_harness.report.verdict import Selection, decide

ALL_PASS = {"total": 3, "passed": 3}


@pytest.mark.parametrize(
    ("facts", "status", "code", "words"),
    [
        ({"counts": ALL_PASS, "exit_status": 0}, "passed", 0, "3 of 3 tests passed"),
        (
            {"counts": {"total": 3, "passed": 2, "failed": 1}, "exit_status": 1},
            "failed",
            1,
            "1 of 3 tests failed",
        ),
        ({"counts": {"total": 2, "passed": 1, "error": 1}}, "failed", 1, "failed or errored"),
        ({"counts": {}, "exit_status": 5}, "no-tests", 2, "ran no test"),
        ({"counts": {}, "exit_status": 0}, "no-tests", 2, "ran no test"),
        ({"counts": {"total": 8, "skipped": 8}}, "no-tests", 2, "no test passed (8 skipped)"),
        (
            {"counts": {"total": 2, "xfailed": 1, "inconclusive": 1}},
            "no-tests",
            2,
            "nothing was proven",
        ),
        ({"counts": {"total": 2, "passed": 2}, "exit_status": 2}, "interrupted", 130, "after 2"),
        ({"counts": {}, "exit_status": 2}, "interrupted", 130, "before any test ended"),
        (
            {"counts": {}, "exit_status": 3, "target_error": "refused", "target_exit_code": 3},
            "error",
            3,
            "could not be reached, so no test ran: refused",
        ),
        (
            {"counts": {}, "exit_status": 2, "target_error": "bad key", "target_exit_code": 2},
            "error",
            2,
            "could not be configured",
        ),
        (
            {"counts": {"total": 1, "error": 1}, "exit_status": 2, "collection_errors": ["a.py"]},
            "error",
            1,
            "could not collect a.py",
        ),
        ({"counts": {}, "exit_status": 4}, "error", 2, "usage error"),
        ({"counts": ALL_PASS, "exit_status": 0, "secrets_found": ["x.html"]}, "error", 1, "x.html"),
        ({"counts": ALL_PASS, "invalid": "generator busy"}, "error", 4, "generator busy"),
        ({"counts": ALL_PASS, "left_behind": "kernels: [k]"}, "failed", 1, "kernels: [k]"),
        ({"counts": ALL_PASS, "exit_status": 1}, "failed", 1, "outside the tests"),
    ],
)
def test_the_rule(facts, status, code, words):
    v = decide(**facts)
    assert (v.status, v.exit_code) == (status, code), v
    assert words in v.reason, v.reason
    assert v.passed == (status == "passed")


def _results(status_facts: dict, tests: list[dict], selection: Selection | None = None):
    counts = {"total": len(tests)}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    return Results.model_validate(
        {
            "run_id": "r1",
            "target": {"kind": "local", "error": status_facts.get("target_error")},
            "tests": tests,
            "verdict": decide(counts=counts, **status_facts).model_dump(),
            "selection": selection.model_dump() if selection else None,
        }
    )


T_PASS = {"nodeid": "scenarios/auth/test_a.py::test_ok", "suite": "auth", "name": "test_ok"}


@pytest.mark.parametrize(
    ("facts", "tests", "status"),
    [
        ({"exit_status": 5}, [], "no-tests"),
        ({"exit_status": 2}, [{**T_PASS, "outcome": "passed"}], "interrupted"),
        (
            {"exit_status": 3, "target_error": "refused the token", "target_exit_code": 3},
            [],
            "error",
        ),
        ({"exit_status": 0}, [{**T_PASS, "outcome": "skipped"}], "no-tests"),
    ],
)
def test_no_artifact_reads_passed_where_nothing_passed(facts, tests, status):
    results = _results(facts, tests)
    md = render_summary_md(results)
    page = render_html(results)
    banner = render_verdict_banner(results.verdict, results.selection)
    word = status.replace("-", " ").upper()
    assert md.splitlines()[0].split(" · ")[0].endswith(word)
    for text in (md, page, banner):
        assert "PASSED" not in text and "✅" not in text
    assert f'class="badge verdict v-{status}"' in page and "v-passed" not in page.split("<body>")[1]
    assert f'data-status="{status}"' in banner


def test_a_passed_run_reads_passed_and_green():
    results = _results({"exit_status": 0}, [{**T_PASS, "outcome": "passed"}])
    assert render_summary_md(results).startswith("# ✅ PASSED")
    assert 'class="badge verdict v-passed"' in render_html(results)


def test_partial_run_names_what_did_not_run():
    sel = Selection.of(["auth"], ["auth", "spark", "startup"], keyword="token", deselected=4)
    assert sel.partial and sel.suites_not_run == ["spark", "startup"]
    results = _results({"exit_status": 0}, [{**T_PASS, "outcome": "passed"}], sel)
    md = render_summary_md(results)
    assert "**Partial run.** Suites not run: spark, startup; 4 tests deselected" in md
    assert "**Selection:** suites auth · -k 'token' · 4 tests deselected" in md
    assert "| auth | 1 | 0 | 0 | 0 | 0 | 0 |" in md and "| spark | — |" in md
    page = render_html(results)
    assert "Suites not run: spark, startup" in page and page.count('class="not-run"') == 2
    whole = Selection.of(["auth", "spark"], ["auth", "spark"])
    assert not whole.partial
    complete = _results({"exit_status": 0}, [{**T_PASS, "outcome": "passed"}], whole)
    assert "Complete run: every suite of the catalogue ran (2)." in render_summary_md(complete)
    assert "Partial run" not in render_summary_md(complete)
    assert 'id="complete"' in render_html(complete) and 'id="partial"' not in render_html(complete)


def test_junit_properties_carry_the_verdict(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text('<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    v = decide(counts={}, exit_status=5)
    sel = Selection.of([], ["auth"], keyword="typo", deselected=40)
    assert add_properties(path, v, sel)
    assert add_properties(path, v, sel)  # twice: replaced, not doubled
    props = [(p.get("name"), p.get("value")) for p in ET.parse(path).iter("property")]
    assert dict(props)["eg_harness.verdict"] == "no-tests" and len(props) == len(set(props))
    assert dict(props)["eg_harness.deselected"] == "40"
    assert dict(props)["eg_harness.partial"] == "true"


def test_documents_without_a_verdict_get_one_from_their_facts():
    """A bench keeps its judgement (left behind 1, invalid 4, a failed step 1); an older
    results.json is judged by the same rule."""
    step = {"nodeid": "bench::storm 1", "suite": "throughput", "name": "storm 1"}
    ok = {"run_id": "b", "kind": "bench", "target": {"kind": "local"}}
    passed = Results.model_validate({**ok, "tests": [{**step, "outcome": "passed"}]})
    assert passed.verdict.status == "passed" and passed.exit_code == 0
    invalid = Results.model_validate(
        {
            **ok,
            "tests": [{**step, "outcome": "failed"}],
            "throughput": {"valid": False, "invalid_reasons": ["generator"]},
        }
    )
    assert (invalid.verdict.status, invalid.exit_code) == ("error", 4)
    left = Results.model_validate(
        {**ok, "tests": [{**step, "outcome": "passed"}], "cleanup": {"kernels_left": ["k"]}}
    )
    assert (left.verdict.status, left.exit_code) == ("failed", 1)
    old = Results.model_validate(
        {"run_id": "o", "target": {"kind": "local"}, "pytest_exit_status": 5}
    )
    assert old.verdict.status == "no-tests"
