"""Parallel runs without a stack: the serial lock, the handoff of a target to a worker, the
merge of worker records, and whole pytest-xdist sessions through pytester (real workers,
no target: the inner tests use none)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from eg_harness.cli import walltime
from eg_harness.cli.run import parallel_pytest_args
from eg_harness.errors import ConfigError
from eg_harness.fixtures.collector import RunState
from eg_harness.fixtures.xdist import alone_or_together, is_serial, one_at_a_time, start_order
from eg_harness.report.workers import occupancy
from eg_harness.runtime import processes, secrets
from eg_harness.targets import make_target
from eg_harness.targets.abilities import ComponentControl, OwnStacks, ProcessView
from eg_harness.targets.base import GatewayEndpoint, HubEndpoint, SparkChoice, SparkEndpoint
from eg_harness.targets.local.components import LocalRun
from eg_harness.targets.local.target import LocalTarget

pytest_plugins = ["pytester"]


# -- the lock that keeps serial tests alone ----------------------------------------------------
def _try(path, how) -> bool:
    """Whether another open of `path` can take the lock `how` right now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_parallel_tests_share_the_room_and_a_serial_one_excludes_them(tmp_path):
    with alone_or_together(tmp_path, alone=False):
        assert _try(tmp_path / "room", fcntl.LOCK_SH), "a second parallel test must get in"
        assert not _try(tmp_path / "room", fcntl.LOCK_EX), "a serial test must wait"
        assert _try(tmp_path / "turnstile", fcntl.LOCK_EX), "the turnstile is only passed"
    with alone_or_together(tmp_path, alone=True):
        assert not _try(tmp_path / "room", fcntl.LOCK_SH), "no test may start beside it"
        assert not _try(tmp_path / "turnstile", fcntl.LOCK_SH), "new tests queue behind it"
    assert _try(tmp_path / "room", fcntl.LOCK_EX) and _try(tmp_path / "turnstile", fcntl.LOCK_EX)


class _Item:
    def __init__(self, *marks: str):
        self.marks = set(marks)

    def get_closest_marker(self, name):
        return name if name in self.marks else None


def test_only_tests_that_disturb_others_run_alone():
    assert is_serial(_Item("serial"))
    assert is_serial(_Item("destructive"))
    assert is_serial(_Item("serial", "own_kernels"))  # serial wins: it measures something
    assert not is_serial(_Item("destructive", "own_stack"))
    assert not is_serial(_Item("destructive", "own_kernels"))
    assert not is_serial(_Item("stress"))


def test_the_lock_is_released_when_the_test_raises(tmp_path):
    with pytest.raises(KeyboardInterrupt), alone_or_together(tmp_path, alone=True):
        raise KeyboardInterrupt
    assert _try(tmp_path / "room", fcntl.LOCK_EX) and _try(tmp_path / "turnstile", fcntl.LOCK_EX)


# -- one stack, handed to workers -------------------------------------------------------------
def test_existing_target_attaches_with_the_same_endpoints_and_versions(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("gateway:\n  url: http://127.0.0.1:9\n  auth_token: abcdefgh1234\n")
    owner = make_target("existing", config_path=str(path), run_id="r-owner")
    owner._versions["enterprise_gateway"] = "3.3.0"
    owner.spark = SparkEndpoint("spark_k8s", [SparkChoice("2g", "2", {"mem": "2g"})])
    handoff = json.loads(json.dumps(owner.handoff()))  # plain data, as xdist carries it
    worker = make_target("existing", config_path=str(path), run_id="other")
    worker.attach(handoff)
    assert worker.run_id == "r-owner"
    assert worker.gateway == owner.gateway and worker.spark == owner.spark
    assert worker.versions() == {"enterprise_gateway": "3.3.0"}
    assert worker.release() == {}


def test_local_target_attaches_to_the_owners_stack_and_releases_only_its_own(tmp_path):
    owner = LocalTarget(run_id="r-share", faults=["gateway_no_token"])
    owner.run_dir = tmp_path
    owner.gateway = GatewayEndpoint("http://127.0.0.1:1", "tok-" + "a" * 20)
    owner.hub = HubEndpoint("http://127.0.0.1:2", "hubtok-" + "b" * 20)
    supervisor = processes.Supervisor("r-share", tmp_path / "logs", marker=str(tmp_path))
    owner._run = LocalRun("r-share", tmp_path, supervisor)
    owner._versions["enterprise_gateway"] = "3.3.0"
    handoff = json.loads(json.dumps(owner.handoff()))

    worker = LocalTarget(run_id=None, faults=["gateway_no_token"])
    worker.attach(handoff)
    assert worker.run_id == "r-share" and worker.run_dir == tmp_path
    assert worker.gateway == owner.gateway and worker.hub == owner.hub
    assert worker.faults == ["gateway_no_token"] and worker.versions()["enterprise_gateway"]
    assert worker.ability(ProcessView) is worker
    assert owner.ability(ComponentControl) is owner and worker.ability(ComponentControl) is None
    assert "run this scenario without -n" in worker.why_missing(ComponentControl)
    # ...but it can stand up a short-lived stack of its own (resilience, upgrade scenarios)
    assert worker.ability(OwnStacks) is worker
    assert worker.gateway_pid() is None  # the owner started no gateway here
    worker._shared_pids = {"gateway": os.getpid(), "hub": 2**22 + 17}  # one alive, one not
    assert worker.component_pids() == {"gateway": os.getpid()}, "the owner's, by pid"
    assert worker.release() == {"processes": []}
    assert tmp_path.is_dir(), "a worker must never remove the shared run directory"


# -- a worker's record, merged by the controller ----------------------------------------------
def test_worker_records_merge_into_the_controllers_collector():
    workers = []
    for n in (1, 2):
        w = RunState()
        w.table_row("Finding", ["who", "what"], [f"w{n}", "row"], note="a note")
        w.metric("m", n)
        w.cleanup = {"kernels_left": [f"k{n}"], "users_left": []}
        w.docs = {f"t.py::test_{n}": f"doc {n}"}
        w.throughput[f"storm{n}"] = {"n": n}
        workers.append(w.export([{"name": "s", "start": f"2026-01-0{n}"}], [f"secret-{n}xyz"]))
    controller = RunState()
    for record in reversed(workers):
        controller.absorb(json.loads(json.dumps(record)))
    assert controller.tables["Finding"]["rows"] == [["w2", "row"], ["w1", "row"]]
    assert controller.tables["Finding"]["note"] == "a note"
    assert [m["value"] for m in controller.metrics] == [2, 1]
    assert sorted(controller.cleanup["kernels_left"]) == ["k1", "k2"]
    assert set(controller.throughput) == {"storm1", "storm2"}
    assert len(controller.worker_spans) == 2 and len(controller.docs) == 2
    assert "secret-1xyz" not in secrets.redact("a secret-1xyz b"), "worker secrets are redacted"


# -- the command line ---------------------------------------------------------------------------
def test_minus_n_becomes_xdist_options_and_bad_values_are_usage_errors():
    assert parallel_pytest_args(None) == [] and parallel_pytest_args("0") == []
    assert parallel_pytest_args("2")[:2] == ["-n", "2"]
    assert parallel_pytest_args("auto")[:2] == ["-n", "auto"]
    for bad in ("two", "-1", "1.5"):
        with pytest.raises(ConfigError, match="number of workers"):
            parallel_pytest_args(bad)


def test_long_tests_start_first_one_per_worker_and_serial_ones_last():
    class Item:
        def __init__(self, name, *marks):
            self.name, self.marks = name, marks

        def get_closest_marker(self, mark):
            return mark if mark in self.marks else None

        def __repr__(self):
            return self.name

    items = [
        Item("a"),
        Item("storm", "serial"),
        Item("spark", "long"),
        Item("b"),
        Item("hung", "long"),
        Item("c"),
        Item("upgrade", "long", "destructive", "own_stack"),
    ]
    order = [i.name for i in start_order(items)]
    # xdist starts each worker on two consecutive tests: a long one each, not two on one.
    assert order == ["spark", "a", "hung", "b", "upgrade", "c", "storm"], order
    # loadscope/loadgroup deal the first tests one per worker: long ones stay together.
    order = [i.name for i in start_order(items, pairs=False)]
    assert order == ["spark", "hung", "upgrade", "a", "b", "c", "storm"], order


def test_tests_are_handed_out_one_at_a_time_unless_the_user_chose():
    class Options:
        maxschedchunk = None

    class Config:
        option = Options()

        def getoption(self, name, default=None):
            return {"dist": "load", "maxschedchunk": self.option.maxschedchunk}.get(name, default)

    config = Config()
    one_at_a_time(config)
    assert config.option.maxschedchunk == 1
    config.option.maxschedchunk = 5
    one_at_a_time(config)
    assert config.option.maxschedchunk == 5


def test_walltime_table_puts_serial_and_parallel_side_by_side():
    def row(label, mode, wall):
        r = walltime.Measured(label, mode, wall, 0, 20.0, 2.0, {"auth": wall / 2})
        r.tests = [(wall / 4, "scenarios/auth/test_a.py::test_slow", "passed")]
        r.summary = {"passed": 3}
        return r

    parallel = row("run 1", "-n 2", 40)
    parallel.machine_cores = 0.55
    parallel.occupancy = occupancy(
        [
            {"worker": "gw0", "start_s": 2, "duration_s": 30},
            {"worker": "gw1", "start_s": 2, "duration_s": 10},
        ],
        40,
    )
    text = walltime.render([row("warm-up", "-n 2", 50), row("run 1", "serial", 100), parallel])
    assert re.search(r"serial +best +100\.0s", text), text
    assert re.search(r"-n 2 +best +40\.0s .*\(2\.50x serial\)", text), text
    assert "slowest tests (serial, run 1)" in text and "test_slow" in text
    assert "where the time went (-n 2, run 1)" in text and "1 busy 20.0s" in text, text
    assert re.search(r"-n 2 +40\.0 +20\.0 +2\.0 +0\.55", text), text


# -- whole parallel sessions (real xdist workers, no stack) ------------------------------------
CONFTEST = """
import os, pathlib, pytest

INSIDE = pathlib.Path(__file__).parent / "inside"

@pytest.fixture(autouse=True)
def inside(request):
    INSIDE.mkdir(exist_ok=True)
    me = INSIDE / str(os.getpid())
    me.write_text(request.node.nodeid)
    yield INSIDE
    me.unlink()
"""

INNER = """
import os, time
import pytest
from eg_harness.runtime.timing import Span, recorder
from eg_harness.runtime.waits import WaitTimeout, wait_for

@pytest.mark.serial
def test_alone(inside):
    others = [p.read_text() for p in inside.iterdir() if p.name != str(os.getpid())]
    assert not others, f"ran beside {others}"
    # The serial phase starts after every parallel test, whichever worker ran them.
    done = inside.parent / "done"
    assert done.is_dir() and len(list(done.iterdir())) == 4, "a parallel test ran after me"

@pytest.mark.parametrize("n", range(4))
def test_together(n, inside, run_state):
    recorder.record(Span("unit_span", {"n": n}).finish())
    # Whether another test runs beside this one (which one runs where is xdist's choice, so
    # a test may find itself alone; the outer test wants at least one meeting).
    try:
        met = wait_for("another test beside this one", lambda: len(list(inside.iterdir())) >= 2, 5)
    except WaitTimeout:
        met = False
    worker = os.environ["PYTEST_XDIST_WORKER"]
    run_state.table_row("Finding", ["n", "worker", "met"], [n, worker, met])
    (inside.parent / "done").mkdir(exist_ok=True)
    (inside.parent / "done" / str(n)).write_text(worker)

def test_fails():
    assert False, "seeded failure"

@pytest.mark.xfail(strict=True, reason="known")
def test_known_bug():
    assert False
"""


def _final_counts(stdout: str) -> dict[str, int]:
    line = [ln for ln in stdout.splitlines() if re.search(r"\d+ (passed|failed).* in ", ln)][-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) ([a-z]+)", line)}


def test_parallel_session_counts_once_and_merges_into_one_report(pytester):
    """Two real workers: a serial test alone, parallel tests side by side, and the report,
    junit.xml and pytest's summary line counting the same tests the same way."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=INNER)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--eg-report-dir={out}", "--eg-run-id=unit-par", "-p", "no:cacheprovider"
    )
    stdout = result.stdout.str()
    assert "2 workers [7 items]" in stdout, stdout
    results = json.loads((out / "results.json").read_text())
    outcomes = {t["name"]: t["outcome"] for t in results["tests"]}
    assert outcomes["test_alone"] == "passed", results["tests"]
    assert outcomes["test_fails"] == "failed" and outcomes["test_known_bug"] == "xfailed"
    assert [t["name"] for t in results["tests"]][:2] == ["test_alone", "test_together[0]"]
    summary = results["summary"]
    assert (summary["total"], summary["passed"], summary["failed"]) == (7, 5, 1)
    assert _final_counts(stdout) == {"failed": 1, "passed": 5, "xfailed": 1}
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "1", "1")
    assert (
        "seeded failure" in next(t for t in results["tests"] if t["outcome"] == "failed")["message"]
    )
    (table,) = results["tables"]
    assert sorted(r[0] for r in table["rows"]) == [0, 1, 2, 3]
    assert {r[1] for r in table["rows"]} == {"gw0", "gw1"}, "both workers' rows are merged"
    assert any(r[2] for r in table["rows"]), "no two tests ever ran at the same time"
    assert len([s for s in results["spans"] if s["name"] == "unit_span"]) == 4
    assert {"name": "xdist_workers", "value": 2.0, "unit": "processes", "attrs": {}} in results[
        "metrics"
    ]
    # Where each test ran and when: the workers' timeline and walltime's occupancy read it.
    assert all(t["worker"] in ("gw0", "gw1") for t in results["tests"]), results["tests"]
    assert all(0 <= t["start_s"] <= results["duration_s"] for t in results["tests"])
    assert any(c["title"].startswith("Workers") for c in results["charts"])
    page = (out / "report.html").read_text()
    assert page.count("<tr data-outcome=") == 7 and "seeded failure" in page
    assert "Where the time went" in page and "Slowest tests" in page
    assert list(pytester.path.glob("inside/*")) == []
