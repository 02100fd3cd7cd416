"""The results document: its published schema, and one count per test item."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from eg_harness.report.model import Results, Summary, json_schema
from eg_harness.report.outcomes import ItemRecord, PhaseReport

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "reports" / "results.schema.json"


def test_committed_schema_is_the_models():
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == json_schema(), (
        "reports/results.schema.json is stale: regenerate it with "
        "python -c 'import json; from eg_harness.report.model import json_schema; "
        "print(json.dumps(json_schema(), indent=2, sort_keys=True))' > reports/results.schema.json"
    )


def test_a_written_results_json_validates_against_the_schema(tmp_path, monkeypatch):
    from eg_harness.report.writer import write_report
    from test_report import sample_results

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    files = write_report(tmp_path / "r", Results.model_validate(sample_results()))
    saved = json.loads(files["results.json"].read_text(encoding="utf-8"))
    jsonschema.validate(saved, json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    saved["summary"]["passed"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(saved, json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _item(*phases: PhaseReport) -> ItemRecord:
    record = ItemRecord("scenarios/auth/test_x.py::test_y")
    for p in phases:
        record.add(p)
    return record


OK_SETUP = PhaseReport("setup", "passed")
OK_TEARDOWN = PhaseReport("teardown", "passed")


@pytest.mark.parametrize(
    ("phases", "outcome", "message_start"),
    [
        ((OK_SETUP, PhaseReport("call", "passed"), OK_TEARDOWN), "passed", None),
        ((OK_SETUP, PhaseReport("call", "failed", "boom"), OK_TEARDOWN), "failed", "boom"),
        ((PhaseReport("setup", "failed", "no fixture"), OK_TEARDOWN), "error", "setup failed"),
        (
            (OK_SETUP, PhaseReport("call", "passed"), PhaseReport("teardown", "failed", "td")),
            "error",
            "teardown failed: td",
        ),
        (
            (OK_SETUP, PhaseReport("call", "failed", "a"), PhaseReport("teardown", "failed", "b")),
            "failed",
            "a\nteardown also failed: b",
        ),
        ((PhaseReport("setup", "skipped", "no hub"), OK_TEARDOWN), "skipped", "no hub"),
        (
            (OK_SETUP, PhaseReport("call", "skipped", "INCONCLUSIVE: 40 msg/s"), OK_TEARDOWN),
            "inconclusive",
            "INCONCLUSIVE: 40 msg/s",
        ),
        (
            (OK_SETUP, PhaseReport("call", "skipped", "bug 661", wasxfail=True), OK_TEARDOWN),
            "xfailed",
            "known defect",
        ),
        (
            (OK_SETUP, PhaseReport("call", "passed", "bug 661", wasxfail=True), OK_TEARDOWN),
            "xpassed",
            "expected to fail",
        ),
        ((PhaseReport("collect", "failed", "ImportError"),), "error", "collect failed"),
    ],
)
def test_one_outcome_per_item(phases, outcome, message_start):
    result = _item(*phases).result()
    assert result.outcome == outcome
    if message_start is None:
        assert result.message is None
    else:
        assert result.message.startswith(message_start)
    assert result.suite == "auth"


def test_subtests_are_counted_apart_and_a_failed_one_fails_its_test():
    passing = _item(
        OK_SETUP,
        PhaseReport("call", "passed", subtest="i=0"),
        PhaseReport("call", "skipped", "no history", subtest="i=1"),
        PhaseReport("call", "passed"),
        OK_TEARDOWN,
    ).result()
    assert passing.outcome == "passed"  # a skipped sub-test does not skip its test
    assert [s.outcome for s in passing.subtests] == ["passed", "skipped"]
    failing = _item(
        OK_SETUP,
        PhaseReport("call", "failed", "assert False", subtest="a=1"),
        PhaseReport("call", "passed", subtest="a=2"),
        PhaseReport("call", "passed"),
        OK_TEARDOWN,
    ).result()
    assert failing.outcome == "failed"
    assert "a=1: assert False" in failing.message
    summary = Summary.of([passing, failing])
    assert (summary.total, summary.passed, summary.failed, summary.skipped) == (2, 1, 1, 0)
    assert summary.subtests.model_dump() == {"total": 4, "passed": 2, "failed": 1, "skipped": 1}


def test_inconclusive_is_counted_apart_from_skipped_and_never_bad():
    still_arriving = _item(
        OK_SETUP,
        PhaseReport("call", "skipped", "INCONCLUSIVE: 8000 of 10000, arriving"),
        OK_TEARDOWN,
    ).result()
    no_hub = _item(PhaseReport("setup", "skipped", "no hub"), OK_TEARDOWN).result()
    summary = Summary.of([still_arriving, no_hub])
    assert (summary.inconclusive, summary.skipped, summary.failed) == (1, 1, 0)
    assert not still_arriving.bad
