"""A real run's five count-bearing artifacts agree, and its report works in a real browser.

The conformance suite is the one that used to disagree (jupyter-kernel-test's sub-tests), so
it runs here, on the gateway hop only to stay quick.
"""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from eg_harness.report import browser
from selftest_tools import REPO, leftovers, run_harness

pytestmark = pytest.mark.slow
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report-run")
    done = run_harness(
        ["run", "--suite", "conformance", "--", "-k", "TestKernelProtocolThroughGateway"],
        tmp,
        timeout=600,
    )
    yield done
    assert not leftovers(done.run_id)


def _pytest_counts(stdout: str) -> dict[str, int]:
    final = re.compile(r"\d+ (passed|failed)\b.* in [\d.]+s")
    line = [ln for ln in stdout.splitlines() if final.search(ln)]
    assert line, stdout[-2000:]
    found = dict(
        (kind.replace("errors", "error"), int(n))
        for n, kind in re.findall(r"(\d+) ((?:subtests )?[a-z]+)", line[-1])
    )
    return {k: found.get(k, 0) for k in (*OUTCOMES, "subtests passed", "subtests skipped")}


def test_the_five_artifacts_count_alike(run):
    assert run.returncode == 0, run.explain()
    results = run.results
    jsonschema.validate(results, json.loads((REPO / "reports" / "results.schema.json").read_text()))
    summary = results["summary"]
    assert summary["total"] == len(results["tests"]) > 10
    assert summary["subtests"]["total"] > 0, "the conformance suite no longer has sub-tests?"

    from_pytest = _pytest_counts(run.stdout)
    for outcome in OUTCOMES:
        assert from_pytest[outcome] == summary[outcome], (outcome, from_pytest, summary)
    assert from_pytest["subtests passed"] == summary["subtests"]["passed"]
    assert from_pytest["subtests skipped"] == summary["subtests"]["skipped"]

    suite = ET.parse(run.report_dir / "junit.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) == summary["total"]
    assert int(suite.get("failures")) == summary["failed"]
    assert int(suite.get("errors")) == summary["error"]
    assert int(suite.get("skipped")) == summary["skipped"] + summary["xfailed"]
    cases = suite.findall("testcase")
    assert len(cases) == summary["total"]
    assert sum(1 for c in cases if c.find("skipped") is not None) == (
        summary["skipped"] + summary["xfailed"]
    )

    md = (run.report_dir / "summary.md").read_text()
    assert f"**{summary['total']} tests:** {summary['passed']} passed" in md
    assert f"{summary['subtests']['total']} sub-tests" in md

    page = (run.report_dir / "report.html").read_text()
    found = re.findall(r"<div class=\"n\">(\d+)</div><div class=\"l\">([a-z]+)</div>", page)
    cards = {label: n for n, label in found}
    assert int(cards["tests"]) == summary["total"]
    for outcome in OUTCOMES:
        assert int(cards[outcome]) == summary[outcome], outcome
    assert page.count("<tr data-outcome=") == summary["total"]


@pytest.mark.skipif(browser.find_browser() is None, reason="no chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run, tmp_path):
    page = run.report_dir / "report.html"
    dom = browser.dump_dom(page)
    # The script unhid the filter bar and counted the rows: it ran.
    assert re.search(r'<div class="filters" id="filters">', dom), "filter bar still hidden"
    total = run.results["summary"]["total"]
    assert f"{total} of {total} tests shown" in dom

    png = browser.screenshot(page, tmp_path / "report.png", width=1280, height=1600)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1600)
    # A blank page compresses to almost nothing; a rendered report does not.
    assert len(data) > 30_000, len(data)
