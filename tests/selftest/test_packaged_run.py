"""The harness as operators and CI images get it, and the report a release gate reads.

Builds the wheel from this checkout, installs it into a fresh venv (pinned by
requirements.lock, from uv's cache when it can) and runs the conformance suite's gateway hop
from an empty directory: the scenarios, cluster definitions and pytest set-up must all come
from the installed package, and the report must land under that directory. The same run then
proves the five count-bearing artifacts agree (the conformance suite is the one that used to
disagree: jupyter-kernel-test's sub-tests) and that report.html works in a real browser. One
run for three questions keeps the project's own test command short.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from eg_harness.report import browser
from selftest_tools import REPO, HarnessRun, _env, leftovers

pytestmark = pytest.mark.slow
OUTCOMES = ("passed", "failed", "error", "skipped", "inconclusive", "xfailed", "xpassed")
UV = Path(sys.executable).parent / "uv"
RUN_ID = "packaged"


def _uv(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UV), *args], capture_output=True, text=True, timeout=timeout, env=_env()
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from this checkout; returns the venv."""
    tmp = tmp_path_factory.mktemp("packaged")
    dist, venv = tmp / "dist", tmp / "venv"
    built = _uv("build", "--wheel", "-o", str(dist), str(REPO))
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("eg_harness-*.whl")
    made = _uv("venv", "--python", sys.executable, str(venv))
    assert made.returncode == 0, made.stderr[-2000:]
    install = ["pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)]
    install += ["-c", str(REPO / "requirements.lock")]
    done = _uv(*install, "--offline")
    if done.returncode != 0:  # something not in uv's cache yet: allow the index
        done = _uv(*install)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv


@pytest.fixture(scope="module")
def run(installed, tmp_path_factory) -> HarnessRun:
    work = tmp_path_factory.mktemp("empty")
    argv = [str(installed / "bin" / "eg-harness"), "run", "--suite", "conformance"]
    argv += ["--run-id", RUN_ID, "--", "-k", "TestKernelProtocolThroughGateway"]
    proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=900, env=_env())
    done = HarnessRun(proc.returncode, proc.stdout, proc.stderr, RUN_ID, work / "reports" / RUN_ID)
    yield done
    assert not leftovers(RUN_ID)


def test_installed_wheel_runs_a_suite_from_an_empty_directory(run, installed):
    assert run.returncode == 0, run.explain()
    for name in ("report.html", "results.json", "junit.xml", "summary.md", "pytest-html.html"):
        assert (run.report_dir / name).is_file(), f"{name} missing: {run.explain()}"
    assert str(installed) in run.stdout, "the scenarios did not run from the installed package"


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
    skipped = summary["skipped"] + summary["inconclusive"] + summary["xfailed"]
    assert int(suite.get("skipped")) == skipped
    cases = suite.findall("testcase")
    assert len(cases) == summary["total"]
    assert sum(1 for c in cases if c.find("skipped") is not None) == skipped

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
