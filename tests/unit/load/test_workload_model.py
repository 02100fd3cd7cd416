"""Workload/SLO files: the model's one-line errors, the examples, the locust step they make, and
the verdicts on synthetic samples whose distributions are known."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from eg_harness import resources
from eg_harness.errors import ConfigError
from eg_harness.load import runner, workload
from eg_harness.load.plan import workload_step
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import GatewayEndpoint

EXAMPLES = resources.CLUSTERS / "examples"

GOOD = """
name: t
users: 3
arrival: {rate_per_s: 1}
duration_s: 20
objectives:
  p95_time_to_first_execute_s: {max: 30}
"""


def _write(tmp_path, text: str):
    p = tmp_path / "w.yaml"
    p.write_text(text)
    return p


def test_the_examples_load():
    quick = workload.load(EXAMPLES / "workload-quick.yaml")
    assert quick.users == 4 and quick.journey == "gateway" and quick.notebook.then == "repeat"
    assert [p.kernelspec for p in quick.profiles] == ["python3", "python3_launcher"]
    assert quick.notebook.code() == "import time; time.sleep(0.2)\nprint('x' * 2000)"
    cls = workload.load(EXAMPLES / "workload-class-start.yaml")
    assert cls.journey == "hub" and cls.users == 40
    assert {p.user_options.get("driver_memory") for p in cls.profiles} == {None, "1g", "2g"}


def test_defaults_fill_a_minimal_file(tmp_path):
    w = workload.load(_write(tmp_path, GOOD))
    assert [p.name for p in w.profiles] == ["default"] and w.notebook.cells == 3
    assert w.notebook.code() == "1 + 1"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (GOOD + "userz: 3\n", "unknown key 'userz' (allowed here: name, description, journey"),
        (
            GOOD + "notebook: {cells: 2, outputs: 5}\n",
            "unknown key 'notebook.outputs' (allowed here: cells, output_bytes",
        ),
        (
            GOOD.replace("p95_time_to_first_execute_s", "p95_ttfe"),
            "unknown key 'objectives.p95_ttfe' (allowed here: p50_time_to_first_execute_s",
        ),
        (
            GOOD + "profiles: [{name: a, wieght: 2}]\n",
            "unknown key 'profiles.0.wieght' (allowed here: name, weight, kernelspec",
        ),
        (GOOD.replace("{max: 30}", "{max: 30, min: 1}"), "give exactly one of max or min"),
        (GOOD.replace("users: 3", "users: 0"), "users: Input should be greater than or equal to 1"),
        (GOOD + "notebook: {think_s: [5, 1]}\n", "think_s must be [low, high]"),
        (
            GOOD.replace("  p95_time_to_first_execute_s: {max: 30}\n", "  {}\n"),
            "name at least one objective (p50_time_to_first_execute_s",
        ),
        (GOOD.replace("duration_s: 20\n", ""), "duration_s: Field required"),
        (GOOD.replace("users: 3", "users: 30"), "the last of 30 users would arrive 29 s in"),
        ("name: [unclosed\n", "is not valid YAML at line"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        workload.load(_write(tmp_path, text))
    msg = str(err.value)
    assert words in msg and "\n" not in msg, msg
    assert err.value.exit_code == 2


def test_no_objectives_is_an_error(tmp_path):
    text = GOOD.replace("  p95_time_to_first_execute_s: {max: 30}\n", "  error_rate: null\n")
    with pytest.raises(ConfigError, match="name at least one objective"):
        workload.load(_write(tmp_path, text))


def test_a_missing_file_is_exit_2_from_the_cli(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "eg_harness", "bench", "--workload", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "workload file" in proc.stderr and "not found" in proc.stderr
    bad = _write(tmp_path, GOOD + "userz: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "eg_harness", "bench", "--workload", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


class _Target(Target):
    kind = "fake"

    def __init__(self) -> None:
        super().__init__()
        self.gateway = GatewayEndpoint("http://127.0.0.1:1", "tok", kernelspec="python3")

    def provision(self, progress=print) -> None:
        pass

    def teardown(self) -> dict:
        return {}


def test_a_workload_is_one_locust_step_with_its_arrival_rate(tmp_path):
    w = workload.load(EXAMPLES / "workload-quick.yaml")
    step = workload_step(w, _Target())
    assert (step.mode, step.users, step.spawn_rate, step.run_seconds) == ("workload", 4, 1.0, 30)
    argv = runner.locust_argv(step, tmp_path, 60, None)
    assert argv[argv.index("-u") + 1] == "4" and argv[argv.index("-r") + 1] == "1"
    conf = runner.load_config(_Target(), step, tmp_path)
    assert conf["workload"]["notebook"]["code"] == w.notebook.code()
    assert conf["workload"]["profiles"][1]["kernelspec"] == "python3_launcher"
    hub = workload.load(EXAMPLES / "workload-class-start.yaml")
    with pytest.raises(ConfigError, match="needs a hub"):
        workload_step(hub, _Target())


def _wl(tmp_path, objectives: str):
    return workload.load(_write(tmp_path, GOOD.split("objectives:")[0] + objectives))


def test_verdicts_on_known_distributions(tmp_path):
    rng = np.random.default_rng(2)
    ttfe = list(rng.lognormal(np.log(2.0), 0.3, 200))  # true p95 = 2 * exp(0.3 * 1.645) = 3.27
    w = _wl(
        tmp_path,
        "objectives:\n"
        "  p95_time_to_first_execute_s: {max: 30}\n"
        "  p50_time_to_first_execute_s: {max: 1.0}\n"
        "  p99_time_to_first_execute_s: {max: 3.9}\n",
    )
    v = {x.metric: x for x in workload.judge(w, ttfe, [], 200, 0, 0)}
    clear = v["p95_time_to_first_execute_s"]
    missed = v["p50_time_to_first_execute_s"]
    close = v["p99_time_to_first_execute_s"]
    assert clear.met and clear.sure.startswith("sure at 95%: the whole interval meets it")
    assert clear.low < 3.27 < clear.high and clear.n == 200
    assert not missed.met and "the whole interval misses it" in missed.sure
    assert "NOT MET" in missed.text and "200 sessions" in missed.text
    # The true p99 (2 * exp(0.3 * 2.326) = 4.02) is near the limit: the run cannot be sure.
    assert "straddles" in close.sure, close


def test_error_rate_and_orphans(tmp_path):
    w = _wl(tmp_path, "objectives:\n  error_rate: {max: 0.001}\n  orphan_kernels: {max: 0}\n")
    none_failed, clean = workload.judge(w, [1.0] * 20, [], 20, 0, 0)
    assert none_failed.met and none_failed.high == pytest.approx(0.1684, abs=1e-3)
    assert "about 2995 error-free sessions would show it" in none_failed.sure
    assert clean.met and clean.sure == "exact"
    half, left = workload.judge(w, [1.0] * 10, [], 10, 5, 2)
    assert not half.met and "the whole interval misses it" in half.sure
    assert not left.met and left.measured == 2
    _, unknown = workload.judge(w, [], [], 0, 0, None)
    assert not unknown.met and "could not be read" in unknown.sure


def test_nothing_measured_is_not_met(tmp_path):
    w = _wl(tmp_path, "objectives:\n  p95_cell_latency_s: {max: 5}\n")
    [v] = workload.judge(w, [], [], 3, 3, 0)
    assert not v.met and v.measured is None and "nothing was measured" in v.text


def test_too_few_sessions_cannot_be_sure_of_a_p95(tmp_path):
    w = _wl(tmp_path, "objectives:\n  p95_time_to_first_execute_s: {max: 30}\n")
    [v] = workload.judge(w, [4.7, 3.3, 4.9, 4.1], [], 4, 0, 0)
    assert v.met and v.sure.startswith("not sure: 4 samples cannot bound a p95")
    assert "20 or more needed" in v.sure
