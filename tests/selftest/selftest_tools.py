"""Tools for the self-tests: run the real CLI in a subprocess and inspect what it left.

The self-tests treat the harness as a user would: a command, an exit code, a report
directory, and a machine that must be as clean afterwards as before.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from eg_harness.runtime import leftovers as inventory

REPO = Path(__file__).resolve().parents[2]
TOKEN_LIKE = re.compile(rb"(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])")  # secrets.new_token()


@dataclass
class HarnessRun:
    returncode: int
    stdout: str
    stderr: str
    run_id: str
    report_dir: Path

    @property
    def results(self) -> dict:
        return json.loads((self.report_dir / "results.json").read_text())

    def tests(self) -> dict[str, dict]:
        return {t["name"]: t for t in self.results["tests"]}

    def outcome(self, name_part: str) -> list[dict]:
        found = [t for t in self.results["tests"] if name_part in t["name"]]
        assert found, f"no test matching {name_part!r} ran: {sorted(self.tests())}"
        return found

    def explain(self) -> str:
        out, err = self.stdout[-3000:], self.stderr[-2000:]
        return f"exit {self.returncode}\nSTDOUT:\n{out}\nSTDERR:\n{err}"


def harness_cmd() -> list[str]:
    return [sys.executable, "-m", "eg_harness"]


def run_harness(args: list[str], tmp_path: Path, *, timeout: float = 600) -> HarnessRun:
    run_id = "selftest-" + uuid.uuid4().hex[:8]
    report_dir = tmp_path / "reports" / run_id
    cmd = [
        *harness_cmd(),
        *args[:1],
        "--run-id",
        run_id,
        "--report-dir",
        str(report_dir),
        *args[1:],
    ]
    if args and args[0] not in ("run", "bench", "bench-ws"):
        cmd = [*harness_cmd(), *args]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Ctrl-C first, so the harness tears its stack down; a kill would leave orphans.
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(
            f"eg-harness {' '.join(args)} took more than {timeout:.0f}s; output:\n{out[-3000:]}"
        ) from None
    return HarnessRun(proc.returncode, out, err, run_id, report_dir)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GITHUB_STEP_SUMMARY", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def leftovers(run_id: str) -> list[str]:
    """What a run left: processes carrying its id, ports they listen on, its run dir and state
    files (the same inventory `eg-harness soak` counts)."""
    found = inventory.of_run(run_id)
    return [*found.processes, *found.ports, *(f"run dir {d}" for d in found.dirs)]


def token_like_strings(directory: Path) -> list[str]:
    hits = []
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink() and TOKEN_LIKE.search(path.read_bytes()):
            hits.append(str(path.relative_to(directory)))
    return hits


# -- one count everywhere -----------------------------------------------------------------------
# The hub scenarios every hub a node cluster gets must pass, through KubeSpawner pods: the
# harness's own hub Deployment (test_node_target.py) and z2jh's chart (test_node_hub_chart.py).
HUB_SCENARIOS = (
    "kernel_carries_hub_user_name",
    "other_users_token_refused",
    "own_token_reaches_own_kernel",
    "user_server_kernel_runs_on_gateway",
    "user_server_offers_gateway_kernelspecs",
)

OUTCOMES = ("passed", "failed", "error", "skipped", "inconclusive", "xfailed", "xpassed")


def pytest_counts(stdout: str) -> dict[str, int]:
    """pytest's own final summary line, as numbers per outcome."""
    final = re.compile(r"\d+ (passed|failed)\b.* in [\d.]+s")
    line = [ln for ln in stdout.splitlines() if final.search(ln)]
    assert line, stdout[-2000:]
    found = dict(
        (kind.replace("errors", "error"), int(n))
        for n, kind in re.findall(r"(\d+) ((?:subtests )?[a-z]+)", line[-1])
    )
    return {k: found.get(k, 0) for k in (*OUTCOMES, "subtests passed", "subtests skipped")}


def assert_five_artifacts_count_alike(run: HarnessRun) -> dict:
    """pytest's summary line, junit.xml, results.json, report.html and summary.md show the same
    numbers (eg_harness.fixtures.counting); returns results.json's summary."""
    import xml.etree.ElementTree as ET

    import jsonschema

    results = run.results
    jsonschema.validate(results, json.loads((REPO / "reports" / "results.schema.json").read_text()))
    summary = results["summary"]
    assert summary["total"] == len(results["tests"])

    from_pytest = pytest_counts(run.stdout)
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
    if summary["subtests"]["total"]:
        assert f"{summary['subtests']['total']} sub-tests" in md

    page = (run.report_dir / "report.html").read_text()
    found = re.findall(r"<div class=\"n\">(\d+)</div><div class=\"l\">([a-z]+)</div>", page)
    cards = {label: n for n, label in found}
    assert int(cards["tests"]) == summary["total"]
    for outcome in OUTCOMES:
        assert int(cards[outcome]) == summary[outcome], outcome
    assert page.count("<tr data-outcome=") == summary["total"]
    return summary
