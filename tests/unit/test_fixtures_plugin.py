"""The pytest plugin without a target: the collector, hub-user naming, markers and pytest-html.

Whole sessions run in-process through pytester (no target is provisioned: the inner tests
use no target fixture), which also proves two sessions in one process share no state.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from eg_harness.fixtures.collector import RunState
from eg_harness.fixtures.html_extras import extras_for_test, rows_added
from eg_harness.fixtures.hub_users import USER_NAME_MAX, user_name
from eg_harness.kernel import messages as m
from eg_harness.runtime import secrets

pytest_plugins = ["pytester"]

HUB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _report(when: str, outcome: str, *, longrepr=None, **extra) -> pytest.TestReport:
    report = pytest.TestReport(
        "scenarios/auth/test_x.py::test_y", ("f", 1, "t"), {}, outcome, longrepr, when, []
    )
    report.duration = 0.25
    for k, v in extra.items():
        setattr(report, k, v)
    return report


# -- the collector's record ------------------------------------------------------------------
def test_record_passed_test_adds_up_its_phases():
    state = RunState()
    for when in ("setup", "call", "teardown"):
        state.record(_report(when, "passed"))
    entry = state.tests["scenarios/auth/test_x.py::test_y"].result()
    assert entry.outcome == "passed" and entry.suite == "auth"
    assert entry.name == "test_y" and entry.duration_s == 0.75


def test_record_failure_error_skip_and_xfail():
    failed = RunState()
    failed.record(_report("call", "failed", longrepr="AssertionError: boom"))
    assert failed.tests["scenarios/auth/test_x.py::test_y"].result().outcome == "failed"
    assert "boom" in failed.tests["scenarios/auth/test_x.py::test_y"].result().message

    teardown = RunState()
    teardown.record(_report("call", "passed"))
    teardown.record(_report("teardown", "failed", longrepr="left a kernel"))
    entry = teardown.tests["scenarios/auth/test_x.py::test_y"].result()
    assert entry.outcome == "error" and entry.message.startswith("teardown failed: ")

    skipped = RunState()
    skipped.record(_report("setup", "skipped", longrepr=("f", 1, "Skipped: no hub")))
    assert skipped.tests["scenarios/auth/test_x.py::test_y"].result().message == "no hub"

    xfailed = RunState()
    xfailed.record(_report("call", "skipped", longrepr=("f", 1, "x"), wasxfail="upstream #1"))
    entry = xfailed.tests["scenarios/auth/test_x.py::test_y"].result()
    assert entry.outcome == "xfailed" and "upstream #1" in entry.message


def test_failure_messages_are_redacted():
    token = "f" * 48
    secrets.register(token)
    state = RunState()
    state.record(_report("call", "failed", longrepr=f"401 with token {token}"))
    message = state.tests["scenarios/auth/test_x.py::test_y"].result().message
    assert token not in message and "401 with token" in message


def test_violations_are_kept_per_collector_and_capped():
    bad = m.new_message("status", {"execution_state": "sleepy"}, session="s", channel="iopub")
    good = m.new_message("status", {"execution_state": "idle"}, session="s", channel="iopub")
    one, other = RunState(), RunState()
    one.check_message(good)
    assert one.violations == []
    for _ in range(50):
        one.check_message(bad)
    assert len(one.violations) == 20 and "execution_state" in one.violations[0]
    assert other.violations == []


# -- hub users ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("test_name", "says"),
    [
        ("test_kernel_carries_hub_user_name", "egh-kernel-carrie-"),
        ("test_negotiated_protocol_works[hub-v1]", "egh-negotiated-pr-"),
        ("test_channels.py", "egh-channels-"),
        ("other", "egh-other-"),
        ("TEST_Ünïcode and spaces!!", "egh-n-code-and-sp-"),
    ],
)
def test_user_names_are_unique_valid_and_say_which_test(test_name, says):
    names = {user_name("egh-", test_name) for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith("egh-") and HUB_NAME.match(name), name
        # EG's per-kernel namespace `<user>-<kernel id>` must fit Kubernetes' 63 characters
        assert len(name) <= USER_NAME_MAX == 63 - 1 - 36, name
        assert "test-" not in name and not name.removeprefix("egh-").startswith("-")
        assert name.startswith(says), name


def test_user_name_of_a_module_drops_the_file_suffix():
    assert re.fullmatch(r"egh-channels-[0-9a-f]{8}", user_name("egh-", "test_channels.py"))


# -- pytest-html extras ------------------------------------------------------------------------
def test_rows_added_are_only_the_new_rows():
    tables = {
        "A": {"columns": ["x"], "rows": [[1], [2], [3]]},
        "B": {"columns": ["y"], "rows": [["b"]]},
        "C": {"columns": ["z"], "rows": [["new"]]},
    }
    added = rows_added(tables, {"A": 1, "B": 1})
    assert added == {"A": {"columns": ["x"], "rows": [[2], [3]]}, "C": tables["C"] | {}}


def test_extras_escape_and_redact_what_they_show():
    token = "e" * 48
    secrets.register(token)
    span = {
        "name": "kernel_start",
        "attrs": {"kernelspec": "<python3>", "url": f"ws://h/?token={token}"},
        "phases": {"requested": 0.0, "first_execute_reply": 1.5},
        "ok": True,
        "error": None,
    }
    rows = {"Negotiated <protocol>": {"columns": ["hop"], "rows": [[f"hub {token}"]]}}
    got = extras_for_test([span], rows, diagnostics=True, own_report=True)
    html_extra = next(e for e in got if e["format_type"] == "html")["content"]
    assert token not in html_extra and "&lt;python3&gt;" in html_extra
    assert "first_execute_reply 1.500" in html_extra and "Negotiated &lt;protocol&gt;" in html_extra
    spans_json = next(e for e in got if e["format_type"] == "json")["content"]
    assert token not in str(spans_json) and spans_json[0]["name"] == "kernel_start"
    links = {e["name"]: e["content"] for e in got if e["format_type"] == "url"}
    assert links == {"eg-harness report": "report.html", "diagnostics": "diagnostics/"}
    assert extras_for_test([], {}, diagnostics=False, own_report=False) == []


# -- whole sessions, in-process ----------------------------------------------------------------
INNER = """
import pytest
from eg_harness.fixtures.collector import STATE_KEY
from eg_harness.kernel import messages as m

@pytest.mark.stress
def test_records_a_finding(run_state):
    run_state.table_row("Finding", ["hop", "value"], ["gateway", "<b>bold</b>"])

def test_receives_a_bad_message(request):
    bad = m.new_message("status", {"execution_state": "sleepy"}, session="s", channel="iopub")
    request.config.stash[STATE_KEY].check_message(bad)

def test_after_the_bad_one_is_clean():
    pass
"""


def test_session_records_into_the_collector_it_was_given(pytester):
    pytester.makepyfile(test_inner=INNER)
    collector = RunState()
    report_dir = pytester.path / "out"
    result = pytester.inline_run(
        f"--eg-report-dir={report_dir}", "--eg-run-id=unit-1", plugins=[collector]
    )
    assert collector.config is not None and collector.run_id == "unit-1"
    outcomes = {k.split("::")[-1]: v.result().outcome for k, v in collector.tests.items()}
    assert outcomes == {
        "test_records_a_finding": "passed",
        "test_receives_a_bad_message": "failed",
        "test_after_the_bad_one_is_clean": "passed",
    }
    results = [v.result() for v in collector.tests.values()]
    failed = next(r for r in results if r.outcome == "failed")
    assert "violate the messaging spec" in failed.message
    assert "execution_state" in failed.message
    assert collector.tables["Finding"]["rows"] == [["gateway", "<b>bold</b>"]]
    result.assertoutcome(passed=2, failed=1)
    assert (report_dir / "report.html").is_file() and (report_dir / "junit.xml").is_file()


def test_without_the_cli_the_plugin_makes_its_own_collector(pytester):
    pytester.makepyfile(test_inner="def test_ok(run_state):\n    assert run_state.run_id\n")

    class Probe:
        collectors: list = []

        def pytest_sessionfinish(self, session):
            plugins = session.config.pluginmanager.get_plugins()
            self.collectors.extend(p for p in plugins if isinstance(p, RunState))

    probe = Probe()
    pytester.inline_run(plugins=[probe]).assertoutcome(passed=1)
    assert len(probe.collectors) == 1
    assert list(probe.collectors[0].tests) == ["test_inner.py::test_ok"]


def test_pytest_html_report_carries_each_tests_findings(pytester):
    pytester.makepyfile(test_inner=INNER)
    report_dir = pytester.path / "out"
    pytester.inline_run(f"--eg-report-dir={report_dir}")
    page = (report_dir / "pytest-html.html").read_text()
    assert "<link " not in page and not (report_dir / "assets").exists()  # self-contained
    blob = re.search(r'data-jsonblob="([^"]*)"', page).group(1)
    tests = json.loads(html.unescape(blob))["tests"]
    extras = tests["test_inner.py::test_records_a_finding"][0]["extras"]
    shown = next(e["content"] for e in extras if e["format_type"] == "html")
    assert "Finding: Finding" in shown and "&lt;b&gt;bold&lt;/b&gt;" in shown
    assert {"name": "eg-harness report", "content": "report.html"}.items() <= next(
        e for e in extras if e["format_type"] == "url"
    ).items()
    # Rows belong to the test that recorded them, not to the ones after it.
    later = tests["test_inner.py::test_after_the_bad_one_is_clean"][0]["extras"]
    assert all(e["format_type"] == "url" for e in later)


def test_pytest_html_output_is_redacted_and_scanned_for_secrets(pytester):
    token = "ab" * 24
    pytester.makepyfile(
        test_inner=f"""
        import pytest
        from eg_harness.runtime import secrets

        secrets.register("{token}")

        def test_prints_a_token():
            print("token {token}")
            assert False, "refused {token}"
        """
    )
    report_dir = pytester.path / "out"
    result = pytester.runpytest_inprocess(f"--eg-report-dir={report_dir}", "-p", "no:junitxml")
    page = (report_dir / "pytest-html.html").read_text()
    assert "test_prints_a_token" in page and token not in page
    said = result.stdout.str() + result.stderr.str()  # the progress console writes to either
    assert "SECRET FOUND" not in said
    # A secret pytest-html writes unredacted (a test id is the key of its data) is still caught.
    pytester.makepyfile(
        test_inner=f"""
        import pytest
        from eg_harness.runtime import secrets

        secrets.register("{token}")

        @pytest.mark.parametrize("x", [1], ids=["{token}"])
        def test_leaky_id(x):
            pass
        """
    )
    result = pytester.runpytest_inprocess(f"--eg-report-dir={report_dir}", "-p", "no:junitxml")
    assert result.ret == 1
    said = result.stdout.str() + result.stderr.str()
    assert "SECRET FOUND" in said and "pytest-html.html" in said


def test_no_pytest_html_report_without_a_report_dir(pytester):
    pytester.makepyfile(test_inner="def test_ok():\n    pass\n")
    pytester.inline_run().assertoutcome(passed=1)
    assert not list(pytester.path.rglob("*.html"))


def test_markers_exist_outside_the_repo_and_misspelt_ones_fail(pytester):
    pytester.makepyfile(
        test_marks="""
        import pytest

        @pytest.mark.stress
        @pytest.mark.slow
        @pytest.mark.destructive
        @pytest.mark.needs_hub
        @pytest.mark.local_only
        def test_known():
            pass
        """
    )
    pytester.inline_run("--strict-markers").assertoutcome(passed=1)
    pytester.makepyfile(
        test_marks="""
        import pytest

        @pytest.mark.strees
        def test_misspelt():
            pass
        """
    )
    collector = RunState()
    result = pytester.runpytest_inprocess("--strict-markers", plugins=[collector])
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*'strees' not found in `markers` configuration option*"])
    # The collector records it, so the CLI can name it and the report shows it as an error.
    assert collector.collection_errors == ["test_marks.py"]
    assert collector.tests["test_marks.py"].result().outcome == "error"
    assert "strees" in collector.tests["test_marks.py"].result().message


def test_destructive_tests_skip_on_a_target_that_forbids_them(pytester):
    """The `destructive` marker is enforced, not decorative: a target without permission skips
    the test with the way to allow it, one with permission runs it."""
    pytester.makeconftest(
        """
        import pytest
        from eg_harness.targets.base import Capabilities

        class FakeTarget:
            def __init__(self, allowed):
                self.capabilities = Capabilities(destructive_allowed=allowed)

        @pytest.fixture(scope="session")
        def target_unprovisioned(request):
            return FakeTarget(request.config.getoption("allow_destructive") is True)

        @pytest.fixture(scope="session")
        def target(target_unprovisioned):
            return target_unprovisioned
        """
    )
    pytester.makepyfile(
        test_d="""
        import pytest

        @pytest.mark.destructive
        def test_kills(target):
            pass

        def test_harmless(target):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*allow_destructive: true*"])
    pytester.runpytest_inprocess("--allow-destructive").assert_outcomes(passed=2)
