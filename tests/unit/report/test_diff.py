"""`eg-harness diff` on results documents built through the real model and saved as the writer
saves them: a suite run and its `--repeat` form, benches with and without repeats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eg_harness.report import diff, html
from eg_harness.report.model import Results, Span, Target, TestResult

VERSIONS_A = {"enterprise_gateway": "3.2.3", "jupyterhub": "6.1.1"}
VERSIONS_B = {"enterprise_gateway": "3.3.0", "jupyterhub": "6.1.1", "pyspark (driver)": "4.3.0"}


def _test(name: str, outcome: str, message: str | None = None) -> TestResult:
    return TestResult(
        nodeid=f"scenarios/startup/test_x.py::{name}",
        suite="startup",
        name=name,
        outcome=outcome,
        message=message,
    )


def _span(total: float) -> Span:
    return Span(
        name="kernel_start",
        attrs={"kernelspec": "python3", "hop": "gateway"},
        phases={"requested": 0.0, "accepted": total / 3, "first_execute_reply": total},
        ok=True,
    )


def _results(run_id: str, tests, spans=(), versions=None, kind="local") -> Results:
    return Results(
        run_id=run_id,
        target=Target(kind=kind, versions=versions or VERSIONS_A),
        tests=list(tests),
        spans=list(spans),
    )


def _save(results: Results, path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(results.model_dump_json(indent=2))
    return path


def _suite_pair(tmp_path: Path) -> tuple[Path, Path]:
    a = _results(
        "run-a",
        [
            _test("test_same", "passed"),
            _test("test_breaks", "passed"),
            _test("test_gets_fixed", "failed", "assert 500 == 201"),
            _test("test_stops_running", "passed"),
            _test("test_relay_bug", "xfailed", "known defect, still present: relay"),
            _test("test_only_before", "passed"),
        ],
        [_span(1.0), _span(1.2)],
    )
    b = _results(
        "run-b",
        [
            _test("test_same", "passed"),
            _test("test_breaks", "failed", "AssertionError: kernel never answered"),
            _test("test_gets_fixed", "passed"),
            _test("test_stops_running", "skipped", "needs ProcessView"),
            _test("test_relay_bug", "failed", "[XPASS(strict)] relay turns binary into text"),
            _test("test_only_after", "passed"),
        ],
        [_span(1.1)],
        versions=VERSIONS_B,
    )
    return _save(a, tmp_path / "a"), _save(b, tmp_path / "b")


def test_tests_are_joined_by_id_into_what_changed(tmp_path):
    a, b = _suite_pair(tmp_path)
    d = diff.diff(a, b)
    cats = {t.name: t.category for t in d.tests}
    assert cats == {
        "test_breaks": "newly failing",
        "test_gets_fixed": "fixed",
        "test_relay_bug": "upstream bug fixed",
        "test_stops_running": "newly skipped",
        "test_only_before": "only in A",
        "test_only_after": "only in B",
    }
    assert d.unchanged == 1 and d.counts["newly failing"] == 1
    assert d.regressed and d.exit_code == 1
    breaks = next(t for t in d.tests if t.name == "test_breaks")
    assert (breaks.a, breaks.b) == ("passed", "failed") and "never answered" in breaks.message
    versions = {v.component: (v.a, v.b, v.changed) for v in d.versions}
    assert versions["enterprise_gateway"] == ("3.2.3", "3.3.0", True)
    assert versions["jupyterhub"] == ("6.1.1", "6.1.1", False)
    assert versions["pyspark (driver)"] == (None, "4.3.0", True)


def test_a_fixed_upstream_bug_alone_is_not_a_regression(tmp_path):
    a = _save(_results("a", [_test("test_relay_bug", "xfailed")]), tmp_path / "a")
    b = _save(
        _results("b", [_test("test_relay_bug", "failed", "[XPASS(strict)] relay")]), tmp_path / "b"
    )
    d = diff.diff(a, b)
    assert [t.category for t in d.tests] == ["upstream bug fixed"] and not d.regressed


def test_single_runs_show_span_changes_but_cannot_judge_them(tmp_path):
    a, b = _suite_pair(tmp_path)
    d = diff.diff(a, b)
    [span] = d.figures
    assert span.name == "kernel_start / python3 / gateway" and span.a == [1.1] and span.b == [1.1]
    assert span.verdict == "not judged (no repeats)" and not span.regressed
    assert any("cannot be judged against noise" in n for n in d.notes)


def _repeat_dir(tmp_path: Path, name: str, totals: list[float], outcomes: list[str]) -> Path:
    parent = tmp_path / name
    for i, (total, outcome) in enumerate(zip(totals, outcomes), 1):
        r = _results(f"{name}-r{i}", [_test("test_flaky", outcome)], [_span(total), _span(total)])
        _save(r, parent / f"run-{i}")
    (parent / "repeat.json").write_text(json.dumps({"runs": len(totals)}))
    return parent


def test_repeated_runs_judge_span_changes_against_their_own_spread(tmp_path):
    base = _repeat_dir(tmp_path, "base", [1.9, 2.1, 2.0, 2.2, 1.8], ["passed"] * 5)
    same = _repeat_dir(tmp_path, "same", [2.0, 2.3, 1.9, 2.1, 2.05], ["passed"] * 5)
    held = _repeat_dir(
        tmp_path, "held", [3.4, 3.6, 3.5, 3.7, 3.45], ["passed", "failed", *["passed"] * 3]
    )
    quiet = diff.diff(base, same)
    assert quiet.a.repeats == 5 and not quiet.regressed, diff.render_text(quiet)
    assert quiet.figures[0].verdict == "within noise"
    slow = diff.diff(base, held)
    assert slow.figures[0].verdict == "worse beyond noise" and slow.figures[0].regressed
    assert slow.regressed
    # A test that failed in one repeat of five is newly failing, and the label says how often.
    [flaky] = slow.tests
    assert flaky.category == "newly failing" and flaky.b == "failed 1/5"
    assert diff.diff(held, base).figures[0].verdict == "better beyond noise"


def _bench(run_id: str, p95s: list[float], rates: list[float]) -> Results:
    level = {
        "mode": "storm",
        "concurrency": 2,
        "time_to_first_execute_s": {"p95": sorted(p95s)[len(p95s) // 2], "p50": 1.0},
        "starts_per_s": sorted(rates)[len(rates) // 2],
        "error_rate": 0.0,
        "per_repeat": {
            "p95_ttfe_s": p95s,
            "p50_ttfe_s": p95s,
            "starts_per_s": rates,
            "error_rate": [0.0] * len(p95s),
        },
    }
    return Results(
        kind="bench",
        run_id=run_id,
        target=Target(kind="local"),
        tests=[
            TestResult(
                nodeid="bench::storm 2", suite="throughput", name="storm 2", outcome="passed"
            )
        ],
        throughput={"storms": [level], "churn": None, "valid": True, "repeats": len(p95s)},
    )


def test_bench_against_bench_uses_each_levels_repeats(tmp_path):
    base = _save(
        _bench("b1", [2.10, 1.93, 2.11, 2.0, 2.05], [0.95, 1.0, 0.94, 0.97, 0.96]), tmp_path / "b1"
    )
    held = _save(
        _bench("b2", [3.5, 3.6, 3.7, 3.55, 3.65], [0.55, 0.53, 0.52, 0.54, 0.53]), tmp_path / "b2"
    )
    d = diff.diff(base, held)
    verdicts = {f.figure: f.verdict for f in d.figures}
    assert verdicts == {
        "p95 time to first execute": "worse beyond noise",
        "p50 time to first execute": "worse beyond noise",
        "throughput": "worse beyond noise",
        "error rate": "within noise",
    }
    assert d.regressed and d.a.repeats == 5
    text = diff.render_text(d)
    assert "REGRESSED: 3" in text and "2.038 (n=5: 1.930..2.110)" in text
    page = html.render_diff(d)
    assert "Run diff" in page and "worse beyond noise" in page and "<script" not in page


def test_two_repeats_a_side_are_too_few_to_call_a_change(tmp_path):
    # Two normal `run --repeat 2` runs on this machine: every span of B above every span of A
    # (the machine got busier) happens 1 time in 6 by chance; the diff must not call it.
    a = _repeat_dir(tmp_path, "a", [0.445, 0.467], ["passed"] * 2)
    b = _repeat_dir(tmp_path, "b", [0.568, 0.765], ["passed"] * 2)
    d = diff.diff(a, b)
    assert d.figures[0].verdict == "not judged (too few repeats)" and not d.regressed


def test_a_suite_against_a_bench_only_lists_tests_on_each_side(tmp_path):
    a, _ = _suite_pair(tmp_path)
    bench = _save(_bench("b1", [2.0, 2.1], [1.0, 1.1]), tmp_path / "bench")
    d = diff.diff(a, bench)
    assert {t.category for t in d.tests} == {"only in A", "only in B"}
    assert not d.figures and not d.regressed
    assert any("different kinds" in n for n in d.notes)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eg_harness", "diff", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_codes_and_files(tmp_path):
    a, b = _suite_pair(tmp_path)
    out = tmp_path / "out"
    bad = _cli(str(a), str(b), "--out", str(out))
    assert bad.returncode == 1, bad.stderr
    assert "newly failing" in bad.stdout and "REGRESSED: 1" in bad.stdout
    doc = json.loads((out / "diff.json").read_text())
    assert doc["schema"] == diff.SCHEMA and doc["regressed"] is True
    assert (out / "diff.html").read_text().startswith("<!DOCTYPE html>")
    same = _cli(str(a), str(a / "results.json"), "--json")
    assert same.returncode == 0 and json.loads(same.stdout)["regressed"] is False
    missing = _cli(str(tmp_path / "nope"), str(b))
    assert missing.returncode == 2 and "not found" in missing.stderr
    (tmp_path / "junk.json").write_text("{not json")
    junk = _cli(str(tmp_path / "junk.json"), str(b))
    assert junk.returncode == 2 and "is not JSON" in junk.stderr
    (tmp_path / "other.json").write_text(json.dumps({"run_id": "x"}))
    other = _cli(str(tmp_path / "other.json"), str(b))
    assert other.returncode == 2 and "not an eg-harness results document" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
