"""Twins of issue 22: a run that proved nothing never reads PASSED, on any artifact.

Each run below is one a gate once read as green: a -k that selects nothing, a target that
refuses the token, a target configuration that cannot be read, a misspelt target, a run
stopped by Ctrl-C. Each is checked by reading what a gate or a person reads: results.json's
verdict, summary.md, report.html, pytest-html's page, junit.xml's properties, the console's
last line and $GITHUB_STEP_SUMMARY. Only the refused token and the interrupt stand a gateway
up; the others end before anything starts (seconds each).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from eg_harness import resources, suites
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.local.target import LocalTarget
from selftest_tools import REPO, _env, harness_cmd, leftovers

SCHEMA = json.loads((REPO / "reports" / "results.schema.json").read_text())
BADGE = re.compile(r'<span class="badge verdict v-([a-z-]+)"[^>]*>([A-Z ]+)</span>')


class Run:
    """One run in a subprocess with its own report dir and step-summary file."""

    def __init__(self, tmp_path: Path) -> None:
        self.run_id = "selftest-" + uuid.uuid4().hex[:8]
        self.report_dir = tmp_path / "out" / self.run_id
        self.step_summary = tmp_path / "step-summary.md"
        self.env = {**_env(), "GITHUB_STEP_SUMMARY": str(self.step_summary)}
        self.returncode: int | None = None
        self.stdout = self.stderr = ""

    def cli(self, *args: str, timeout: float = 120) -> Run:
        cmd = [*harness_cmd(), "run", "--run-id", self.run_id, "--report-dir"]
        return self._run([*cmd, str(self.report_dir), *args], timeout)

    def pytest(self, *args: str, suite: str = "auth", timeout: float = 120) -> Run:
        """The pytest entry point (`pytest scenarios/...`), as a CI job that skips the CLI."""
        cmd = [sys.executable, "-m", "pytest", str(resources.SCENARIOS / suite)]
        cmd += [f"--rootdir={resources.SCENARIOS.parent}", f"--run-id={self.run_id}"]
        return self._run([*cmd, f"--report-dir={self.report_dir}", *args], timeout)

    def _run(self, cmd: list[str], timeout: float) -> Run:
        proc = subprocess.run(
            cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=self.env
        )
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        return self

    def explain(self) -> str:
        out, err = self.stdout[-3000:], self.stderr[-2000:]
        return f"exit {self.returncode}\nSTDOUT:\n{out}\nSTDERR:\n{err}"


def assert_verdict_everywhere(run: Run, status: str, *, pytest_files: bool = True) -> dict:
    """The verdict in results.json, and the same verdict (never PASSED, never green) on every
    other artifact; returns the verdict."""
    results = json.loads((run.report_dir / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    verdict = results["verdict"]
    assert verdict["status"] == status, (verdict, run.explain())
    assert verdict["exit_code"] == run.returncode, (verdict, run.explain())
    word = status.replace("-", " ").upper()

    md = (run.report_dir / "summary.md").read_text()
    assert md.splitlines()[0].startswith("# ") and f" {word} · run " in md.splitlines()[0], md
    assert "PASSED" not in md and "✅" not in md, md[:500]

    page = (run.report_dir / "report.html").read_text()
    assert BADGE.findall(page) == [(status, word)], BADGE.findall(page)
    assert "PASSED" not in page
    assert f"<strong>Verdict: {status}</strong>" in page

    if pytest_files:
        html = (run.report_dir / "pytest-html.html").read_text()
        assert f'data-status="{status}"' in html and f"eg-harness verdict: {word}" in html
        assert "PASSED" not in html
        suite = ET.parse(run.report_dir / "junit.xml").getroot().find("testsuite")
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["eg_harness.verdict"] == status, props
        assert props["eg_harness.exit_code"] == str(run.returncode), props

    last = run.stdout.strip().splitlines()[-1]
    assert last.endswith(f"eg-harness: {word}: {verdict['reason']} (exit {run.returncode})"), (
        run.explain()
    )
    assert "PASSED" not in run.stdout.split("short test summary")[-1]

    step = run.step_summary.read_text()
    assert md.splitlines()[0] in step and "PASSED" not in step and "✅" not in step
    return verdict


def test_empty_selection_is_no_tests_everywhere(tmp_path):
    """A typo in -k: 40 tests deselected, none ran (it once read '# ✅ PASSED', 0 tests)."""
    run = Run(tmp_path).cli("--suite", "auth", "--", "-k", "test_gatway_tokn")
    assert run.returncode == 2, run.explain()
    verdict = assert_verdict_everywhere(run, "no-tests")
    assert "ran no test" in verdict["reason"]
    selection = json.loads((run.report_dir / "results.json").read_text())["selection"]
    assert selection["keyword"] == "test_gatway_tokn" and selection["deselected"] > 0
    assert selection["partial"] and "auth" in selection["suites_not_run"], selection
    md = (run.report_dir / "summary.md").read_text()
    assert "**Partial run.** Suites not run:" in md and "| auth | — |" in md, md


def test_misspelt_target_is_an_error_everywhere(tmp_path):
    run = Run(tmp_path).pytest("--target", "nosuch")
    assert run.returncode == 2, run.explain()
    verdict = assert_verdict_everywhere(run, "error")
    assert "unknown target 'nosuch'" in verdict["reason"], verdict
    # The CLI refuses it before anything runs: no report, so no PASSED either.
    cli = Run(tmp_path).cli("--target", "nosuch")
    assert cli.returncode == 2 and "invalid choice: 'nosuch'" in cli.stderr, cli.explain()
    assert not cli.report_dir.exists()


def test_config_error_is_an_error_everywhere(tmp_path):
    cfg = tmp_path / "existing.yaml"
    cfg.write_text("gateway:\n  url: http://127.0.0.1:1\n  tokn: x\n")  # misspelt key
    run = Run(tmp_path).pytest("--target", "existing", f"--target-config={cfg}")
    assert run.returncode == 2, run.explain()
    verdict = assert_verdict_everywhere(run, "error")
    assert "could not be configured" in verdict["reason"] and "tokn" in verdict["reason"]
    # Through the CLI the pre-check ends it, and still leaves a report with the verdict.
    cli = Run(tmp_path).cli("--target", "existing", "--target-config", str(cfg))
    assert cli.returncode == 2, cli.explain()
    assert len(cli.stderr.strip().splitlines()) == 1 and "tokn" in cli.stderr, cli.explain()
    assert_verdict_everywhere(cli, "error", pytest_files=False)


@pytest.fixture(scope="module")
def gateway_alone():
    """A gateway the runs below reach as an existing deployment (no hub: not needed)."""
    target = LocalTarget(with_hub=False)
    try:
        target.provision(lambda _m: None)
        yield target
    finally:
        left = target.teardown()
    assert not any(left.values()), left


@pytest.mark.slow
def test_refused_token_is_an_error_everywhere(gateway_alone, tmp_path):
    cfg = tmp_path / "existing.yaml"
    cfg.write_text(f"gateway:\n  url: {gateway_alone.gateway.url}\n  auth_token: wrong-0000\n")
    run = Run(tmp_path).pytest("--target", "existing", f"--target-config={cfg}")
    assert run.returncode == 3, run.explain()
    verdict = assert_verdict_everywhere(run, "error")
    assert "refused the token" in verdict["reason"], verdict
    cli = Run(tmp_path).cli("--target", "existing", "--target-config", str(cfg))
    assert cli.returncode == 3, cli.explain()
    assert_verdict_everywhere(cli, "error", pytest_files=False)
    text = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert gateway_alone.gateway.token not in text


@pytest.mark.slow
def test_interrupted_run_is_interrupted_everywhere(tmp_path):
    """Ctrl-C as the auth suite's first test starts (its stack still coming up): whatever had
    ended by then, the run proved nothing past that point and says so."""
    run = Run(tmp_path)
    cmd = [*harness_cmd(), "run", "--run-id", run.run_id, "--report-dir", str(run.report_dir)]
    proc = subprocess.Popen(
        [*cmd, "--suite", "auth"],
        cwd=REPO,
        env=run.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(
            "the auth suite's first test file",
            lambda: any("test_gateway_token.py" in ln for ln in lines) or proc.poll() is not None,
            180,
            detail=lambda: "".join(lines)[-1500:],
        )
        assert proc.poll() is None, "".join(lines)[-3000:]
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(10)
    run.returncode, run.stdout = proc.returncode, "".join(lines)
    assert run.returncode == 130, run.explain()
    verdict = assert_verdict_everywhere(run, "interrupted")
    assert verdict["reason"].startswith("interrupted "), verdict
    assert not leftovers(run.run_id)


def test_partial_run_names_the_suites_that_did_not_run(tmp_path):
    """The kubernetes suite alone (it skips on the local target without starting anything)."""
    run = Run(tmp_path).cli("--suite", "kubernetes")
    assert run.returncode == 2, run.explain()  # every scenario skipped: nothing proven
    assert_verdict_everywhere(run, "no-tests")
    results = json.loads((run.report_dir / "results.json").read_text())
    others = sorted(set(suites.folders()) - {"kubernetes"})
    assert results["selection"]["suites"] == ["kubernetes"]
    assert results["selection"]["suites_not_run"] == others and results["selection"]["partial"]
    md = (run.report_dir / "summary.md").read_text()
    assert f"**Partial run.** Suites not run: {', '.join(others)}" in md, md
    skipped = results["summary"]["skipped"]
    assert skipped == results["summary"]["total"] > 0, results["summary"]
    assert f"| kubernetes | 0 | 0 | 0 | {skipped} | 0 | 0 |" in md, md
    page = (run.report_dir / "report.html").read_text()
    assert f"Suites not run: {', '.join(others)}" in page
    assert page.count('<tr class="not-run">') == len(others)
