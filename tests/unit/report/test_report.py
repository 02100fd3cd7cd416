"""Unit tests for harness.report: rendering, escaping, redaction and the latest link."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import eg_harness.report as report_pkg
import pytest
from eg_harness.report.model import SCHEMA_VERSION, Results
from eg_harness.report.scan import scan_for_secrets
from eg_harness.report.spans import aggregate_spans
from eg_harness.report.writer import write_report
from eg_harness.stats.percentiles import percentile
from pydantic import ValidationError

SECRET = "s3cr3t-token-0123456789abcdef"
# Escaping for HTML, JSON and markdown each changes this one's spelling.
ODD_SECRET = 'p&ss"w<rd|\\-0123456789'
XSS = "<script>alert('pwned')</script>"


def _redact(text: str) -> str:
    return text.replace(SECRET, "[REDACTED]").replace(ODD_SECRET, "[REDACTED]")


def sample_results(run_id: str = "20261126-021500-ab12") -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started_at": "2026-11-26T02:15:00Z",
        "finished_at": "2026-11-26T02:16:33Z",
        "duration_s": 93.2,
        "command": "eg-harness run --target local --suite auth,startup",
        "target": {
            "kind": "local",
            "endpoints": {"gateway": "http://127.0.0.1:40111", "hub": "http://127.0.0.1:40222"},
            "versions": {
                "enterprise_gateway": "3.3.0",
                "jupyter_server(gateway)": "1.24.0",
                "jupyterhub": "6.1.1",
            },
            "capabilities": {"has_hub": True, "has_spark": False},
            "faults": [],
            "notes": ["proxy: npm configurable-http-proxy"],
        },
        "summary": {"total": 4, "passed": 2, "failed": 1, "error": 0, "skipped": 1},
        "tests": [
            {
                "nodeid": "scenarios/auth/test_gateway_token.py::test_ok[GET /api]",
                "suite": "auth",
                "name": "test_ok[GET /api]",
                "outcome": "passed",
                "duration_s": 0.12,
                "message": None,
                "doc": "A valid token is accepted.",
            },
            {
                "nodeid": "scenarios/auth/test_gateway_token.py::test_missing_token_refused",
                "suite": "auth",
                "name": "test_missing_token_refused",
                "outcome": "failed",
                "duration_s": 0.5,
                "message": f"expected 401 | got 200 {XSS}\nheader token={SECRET}",
                "doc": "Requests without a token are refused.",
            },
            {
                "nodeid": "scenarios/startup/test_start.py::test_spark",
                "suite": "startup",
                "name": "test_spark",
                "outcome": "skipped",
                "duration_s": 0.0,
                "message": "no spark on this target",
                "doc": None,
            },
            {
                "nodeid": "scenarios/startup/test_start.py::test_python3",
                "suite": "startup",
                "name": "test_python3",
                "outcome": "passed",
                "duration_s": 1.2,
            },
        ],
        "spans": [
            {
                "name": "kernel_start",
                "test": "scenarios/startup/test_start.py::test_python3",
                "attrs": {"kernelspec": "python3", "hop": "gateway"},
                "start": "2026-11-26T02:15:10Z",
                "phases": {
                    "requested": 0.0,
                    "accepted": 0.041,
                    "channels_open": 0.052,
                    "kernel_info_reply": 0.91,
                    "first_execute_reply": 0.95,
                },
                "ok": True,
                "error": None,
            },
            {
                "name": "kernel_start",
                "test": "scenarios/startup/test_start.py::test_python3",
                "attrs": {"kernelspec": "python3", "hop": "gateway"},
                "phases": {"requested": 0.0, "accepted": 0.05},
                "ok": False,
                "error": "timed out <waiting>",
            },
        ],
        "metrics": [{"name": "kernel_start_p50", "value": 0.95, "unit": "s", "attrs": {}}],
        "cleanup": {"processes_left": [], "ports_still_bound": [], "kernels_left": []},
        "diagnostics": ["diagnostics/gateway.log", "diagnostics/hub.log"],
    }


def model(results: dict | None = None) -> Results:
    return Results.model_validate(results if results is not None else sample_results())


@pytest.fixture
def no_step_summary(monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def written(tmp_path, no_step_summary):
    run_dir = tmp_path / "reports" / "20261126-021500-ab12"
    files = write_report(run_dir, model(), redact=_redact)
    return run_dir, files


def test_writes_all_files(written):
    run_dir, files = written
    for name in ("results.json", "summary.md", "report.html"):
        assert files[name] == run_dir / name
        assert files[name].is_file()
        assert files[name].stat().st_size > 0


def test_results_json_round_trips(tmp_path, no_step_summary):
    results = sample_results()
    results["tests"][1]["message"] = "plain failure"  # nothing to redact
    files = write_report(tmp_path / "run", model(results), latest_link=False)
    saved = json.loads(files["results.json"].read_text(encoding="utf-8"))
    assert saved == model(results).model_dump(mode="json")
    assert Results.model_validate(saved) == model(results)


def test_html_escapes_message(written):
    run_dir, _ = written
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page
    assert XSS not in page
    # The page's own filtering script is the only <script> element.
    assert page.count("<script") == 1
    assert "timed out &lt;waiting&gt;" in page


def test_html_is_self_contained(written):
    run_dir, _ = written
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "@import" not in page
    assert "url(" not in page
    # Endpoints still appear, as text.
    assert "<code>http://127.0.0.1:40111</code>" in page
    # Any remaining http(s) reference is one of the endpoint texts.
    urls = set(re.findall(r"https?://[^\s<\"']+", page))
    assert urls == {"http://127.0.0.1:40111", "http://127.0.0.1:40222"}


def test_html_sections_and_order(written):
    run_dir, _ = written
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    for section in ("summary", "target", "tests", "spans", "metrics", "cleanup", "diagnostics"):
        assert f'id="{section}"' in page
    assert page.count("<svg") == 2  # one waterfall per span
    assert re.search(r'b-bad">failed</span> kernel_start .*? — last phase at 50 ms', page)
    assert re.search(r'b-ok">ok</span> kernel_start .*? — 950 ms', page)
    assert '<a href="diagnostics/gateway.log">' in page
    # Within the auth suite the failure comes before the pass, though recorded after it.
    assert page.index("test_missing_token_refused") < page.index("test_ok[GET /api]")
    assert "FAILED</span>" in page
    assert "b-bad" in page


def test_summary_md_lists_failure(written):
    run_dir, _ = written
    md = (run_dir / "summary.md").read_text(encoding="utf-8")
    first = md.splitlines()[0]
    assert "FAILED" in first
    assert "20261126-021500-ab12" in first
    assert "local" in first
    rows = [line for line in md.splitlines() if "test_missing_token_refused" in line]
    assert len(rows) == 1
    row = rows[0]
    assert "expected 401 \\| got 200" in row
    assert "<script>" not in md
    # The cell separators are the only unescaped pipes: Outcome | Test | Message.
    assert len(re.findall(r"(?<!\\)\|", row)) == 4
    assert "| enterprise_gateway | 3.3.0 |" in md
    assert "nothing left behind" in md
    # Failed span is counted but kept out of the stats: n=1, failed=1, p50=950 ms.
    assert re.search(r"\| kernel_start \| python3 \| gateway \| 1 \| 1 \| 950 ms \|", md)


def test_latest_symlink_points_to_newest_run(tmp_path, no_step_summary, monkeypatch):
    reports = tmp_path / "reports"
    monkeypatch.setenv("EG_HARNESS_REPORTS", str(reports))  # the root the harness owns
    first = reports / "run-1"
    files = write_report(first, model(sample_results("run-1")))
    latest = reports / "latest"
    assert files["latest"] == latest
    assert latest.is_symlink()
    assert os.readlink(latest) == "run-1"  # relative, so the tree can move
    assert latest.resolve() == first.resolve()

    second = reports / "run-2"
    write_report(second, model(sample_results("run-2")))
    assert os.readlink(latest) == "run-2"
    assert latest.resolve() == second.resolve()
    assert sorted(p.name for p in reports.iterdir()) == ["latest", "run-1", "run-2"]


def test_no_latest_link_outside_the_reports_root(tmp_path, no_step_summary, monkeypatch):
    """--report-dir /x/run1 is the user's folder: no `latest` appears in /x, and none the
    harness owns is repointed at it."""
    root = tmp_path / "reports"
    monkeypatch.setenv("EG_HARNESS_REPORTS", str(root))
    owned = write_report(root / "run-1", model(sample_results("run-1")))
    assert owned["latest"] == root / "latest"
    elsewhere = tmp_path / "x" / "run-2"
    files = write_report(elsewhere, model(sample_results("run-2")))
    assert "latest" not in files
    assert sorted(p.name for p in elsewhere.parent.iterdir()) == ["run-2"]
    assert os.readlink(root / "latest") == "run-1"  # not repointed by a run elsewhere


def test_no_latest_link_when_disabled(tmp_path, no_step_summary):
    files = write_report(tmp_path / "reports" / "run", model(sample_results()), latest_link=False)
    assert "latest" not in files
    assert not (tmp_path / "reports" / "latest").exists()


def test_redaction_applies_to_every_file(tmp_path, no_step_summary):
    results = sample_results()
    results["target"]["notes"].append(f"<{SECRET}>")
    results["metrics"][0]["attrs"] = {"token": SECRET}
    results["tests"][1]["message"] += f"\ncookie {ODD_SECRET}"
    results["spans"][1]["error"] = ODD_SECRET
    results["target"]["versions"][ODD_SECRET] = "1.0"
    run_dir = tmp_path / "run"
    write_report(run_dir, model(results), redact=_redact, latest_link=False)
    assert scan_for_secrets(run_dir, [SECRET, ODD_SECRET]) == []
    assert "[REDACTED]" in (run_dir / "results.json").read_text(encoding="utf-8")
    assert "[REDACTED]" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_redaction_covers_non_string_values(tmp_path, no_step_summary):
    """Table cells hold any JSON value; a secret nested in one is redacted too."""
    results = sample_results()
    results["tables"] = [{"title": "t", "columns": ["a", "b"], "rows": [[1, {"tok": SECRET}]]}]
    run_dir = tmp_path / "run"
    write_report(run_dir, model(results), redact=_redact, latest_link=False)
    assert "[REDACTED]" in (run_dir / "results.json").read_text(encoding="utf-8")
    assert scan_for_secrets(run_dir, [SECRET]) == []


def test_model_refuses_values_that_are_not_text(tmp_path):
    """A Path where text belongs is refused when the document is built, not at render time."""
    results = sample_results()
    results["target"]["notes"].append(Path("/var/run") / SECRET)
    with pytest.raises(ValidationError):
        model(results)


def test_without_redaction_the_secret_is_found(tmp_path, no_step_summary):
    run_dir = tmp_path / "run"
    write_report(run_dir, model(sample_results()), latest_link=False)
    hits = scan_for_secrets(run_dir, [SECRET])
    assert {p.name for p, _ in hits} == {"results.json", "report.html"}
    assert all(hint == SECRET[:4] + "…" for _, hint in hits)


def test_scan_for_secrets_binary_nested_and_short(tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "blob.bin").write_bytes(b"\x00\xff\xfe" + SECRET.encode() + b"\x80")
    (tmp_path / "clean.txt").write_text("nothing here", encoding="utf-8")
    (tmp_path / "short.txt").write_text("abc1234", encoding="utf-8")
    hits = scan_for_secrets(tmp_path, [SECRET, "abc1234", ""])
    assert hits == [(nested / "blob.bin", "s3cr…")]


def test_scan_for_secrets_finds_split_across_chunks(tmp_path):
    data = b"x" * ((1 << 20) - 5) + SECRET.encode() + b"y" * 10
    (tmp_path / "big.log").write_bytes(data)
    assert [p.name for p, _ in scan_for_secrets(tmp_path, [SECRET])] == ["big.log"]


def test_scan_for_secrets_missing_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_for_secrets(tmp_path / "nope", [SECRET])


def test_github_step_summary_appended(tmp_path, monkeypatch):
    step = tmp_path / "step_summary.md"
    step.write_text("previous step output", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    run_dir = tmp_path / "run"
    files = write_report(run_dir, model(sample_results()), redact=_redact, latest_link=False)
    text = step.read_text(encoding="utf-8")
    assert text.startswith("previous step output\n\n")
    assert text.endswith((run_dir / "summary.md").read_text(encoding="utf-8"))
    assert files["github_step_summary"] == step
    assert SECRET not in text


def test_renders_minimal_results(tmp_path, no_step_summary):
    results = {"run_id": "r", "target": {"kind": "local"}}
    files = write_report(tmp_path / "r", model(results), latest_link=False)
    page = files["report.html"].read_text(encoding="utf-8")
    md = files["summary.md"].read_text(encoding="utf-8")
    # No test ran: never PASSED, never green (issue 22).
    assert md.splitlines()[0].startswith("# ⚠️ NO TESTS")
    assert "PASSED" not in md and "PASSED" not in page and "✅" not in md
    assert 'data-status="no-tests"' in page and 'class="badge verdict v-passed"' not in page
    assert "No tests recorded." in page
    assert "Cleanup was not recorded." in page
    assert "not recorded" in md


def test_cleanup_leftovers_reported(tmp_path, no_step_summary):
    results = sample_results()
    results["cleanup"] = {"processes_left": [4242], "kernels_left": ["k-1"], "users_left": []}
    files = write_report(tmp_path / "r", model(results), latest_link=False)
    md = files["summary.md"].read_text(encoding="utf-8")
    assert "left behind — processes left: 4242; kernels left: k-1" in md
    assert "<code>k-1</code>" in files["report.html"].read_text(encoding="utf-8")


def test_long_message_is_collapsed(tmp_path, no_step_summary):
    results = sample_results()
    results["tests"][1]["message"] = "first line\n" + "\n".join(f"frame {i}" for i in range(50))
    files = write_report(tmp_path / "r", model(results), latest_link=False)
    page = files["report.html"].read_text(encoding="utf-8")
    assert "<details><summary>first line</summary><pre>first line\nframe 0" in page


def test_input_not_mutated(tmp_path, no_step_summary):
    results = sample_results()
    before = copy.deepcopy(results)
    write_report(tmp_path / "r", model(results), redact=_redact, latest_link=False)
    assert results == before


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 100, 4.0),
        ([1, 2, 3, 4], 0, 1.0),
        ([4, 1, 3, 2], 25, 1.75),
        ([10], 95, 10.0),
        ([0, 10], 95, 9.5),
    ],
)
def test_percentile(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_rejects_bad_input():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_aggregate_spans_excludes_failures():
    rows = aggregate_spans(model().spans)
    assert len(rows) == 1
    row = rows[0]
    assert (row["name"], row["kernelspec"], row["hop"]) == ("kernel_start", "python3", "gateway")
    assert (row["count"], row["failed"]) == (1, 1)
    assert row["p50"] == pytest.approx(0.95)
    assert list(row["phase_p50"]) == [
        "requested",
        "accepted",
        "channels_open",
        "kernel_info_reply",
        "first_execute_reply",
    ]


def test_exit_code_and_verdict():
    results = sample_results()
    assert model(results).exit_code == 1
    assert model(results).verdict.status == "failed"
    for t in results["tests"]:
        if t["outcome"] == "failed":
            t["outcome"] = "passed"
    del results["summary"]  # derived from the tests
    assert model(results).exit_code == 0
    assert model(results).verdict.status == "passed"
    results["tests"][0]["outcome"] = "error"
    assert model(results).exit_code == 1
    empty = Results.model_validate({"run_id": "r", "target": {"kind": "local"}})
    assert empty.verdict.status == "no-tests" and empty.exit_code == 2


def test_summary_must_agree_with_tests():
    """The counts shown anywhere come from the tests; a document claiming others is refused."""
    results = sample_results()
    results["summary"]["failed"] = 0
    with pytest.raises(ValidationError, match="disagrees with the tests"):
        model(results)


def test_report_package_does_not_import_pytest():
    sources = list(Path(report_pkg.__file__).parent.glob("*.py"))
    assert len(sources) >= 8
    for path in sources:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+pytest\b", source, re.M), path
