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

import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from eg_harness.report import browser
from selftest_tools import REPO, HarnessRun, _env, assert_five_artifacts_count_alike, leftovers

# xdist_group: a module-scoped fixture, made once on one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("packaged")]
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


def test_the_five_artifacts_count_alike(run):
    assert run.returncode == 0, run.explain()
    summary = assert_five_artifacts_count_alike(run)
    assert summary["total"] > 10
    assert summary["subtests"]["total"] > 0, "the conformance suite no longer has sub-tests?"


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
