"""The bench pipeline's pieces without processes: plan, locust argv and config, events, CPU
verdicts, the bench document."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from eg_harness.errors import ConfigError
from eg_harness.load import cpu, runner, summary
from eg_harness.load.plan import BenchSettings, Step, plan
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import GatewayEndpoint, HubEndpoint

TOKEN = "gw-secret-token-1234"


class _Target(Target):
    kind = "fake"

    def __init__(self, hub: bool = False) -> None:
        super().__init__()
        self.gateway = GatewayEndpoint(
            "http://127.0.0.1:1", TOKEN, kernelspec="python3", launch_timeout=20
        )
        if hub:
            self.hub = HubEndpoint("http://127.0.0.1:2", "hub-secret-token-5678")

    def provision(self, progress=print) -> None:
        pass

    def teardown(self) -> dict[str, list[str]]:
        return {}


def test_plan_makes_the_ladder_then_the_churn_with_the_targets_kernelspec():
    settings = BenchSettings(ladder=[1, 3], churn_users=2, churn_seconds=7.9, workers=2)
    steps = plan(settings, _Target())
    assert [(s.mode, s.users, s.workers) for s in steps] == [
        ("storm", 1, 0),
        ("storm", 3, 0),
        ("churn", 2, 2),
    ]
    assert {s.kernelspec for s in steps} == {"python3"}
    assert steps[0].seconds == 2 * 20 + 30  # a storm may take two launch timeouts
    assert steps[2].run_seconds == 7 and steps[2].name == "churn"
    assert steps[1].name == "storm-003"
    assert steps[2].describe() == "2 users churning gateway journeys for 7s on 2 workers"
    assert steps[1].describe() == "3 gateway journeys at once"


def test_plan_without_churn_and_with_an_explicit_kernelspec():
    steps = plan(BenchSettings(ladder=[2], kernelspec="python3_launcher"), _Target())
    assert [(s.mode, s.kernelspec) for s in steps] == [("storm", "python3_launcher")]


def test_hub_journey_needs_a_hub():
    with pytest.raises(ConfigError, match="needs a target with a hub"):
        plan(BenchSettings(journey="hub"), _Target())
    assert plan(BenchSettings(ladder=[1], journey="hub"), _Target(hub=True))[0].journey == "hub"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "storm", "users": 2, "seconds": 5, "workers": 2}, "one locust process"),
        ({"mode": "burst", "users": 2, "seconds": 5}, "unknown"),
        ({"mode": "churn", "users": 0, "seconds": 5}, "at least one user"),
    ],
)
def test_impossible_steps_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Step(**kwargs)


def test_locust_argv_carries_no_token_and_a_master_only_with_workers(tmp_path):
    storm = runner.locust_argv(Step("storm", 4, 70.5), tmp_path, 20, None)
    assert "--master" not in storm
    assert storm[storm.index("-u") + 1] == "4" and storm[storm.index("-t") + 1] == "70s"
    assert storm[storm.index("--stop-timeout") + 1] == "50"
    churn = runner.locust_argv(Step("churn", 2, 10, workers=3), tmp_path, 20, 4567)
    assert churn[churn.index("--master-bind-port") + 1] == "4567"
    assert churn[churn.index("--expect-workers") + 1] == "3"
    worker = runner.worker_argv(4567)
    assert "--worker" in worker and worker[worker.index("--master-port") + 1] == "4567"
    assert not [a for a in [*storm, *churn, *worker] if TOKEN in a]
    # With workers the master ends the run itself (locustfile), so locust's -t is left out.
    assert "-t" not in churn and churn[churn.index("--master-bind-host") + 1] == "127.0.0.1"


def test_external_workers_get_a_listening_master_and_a_plan(tmp_path):
    """bench --load-workers N --external-workers: the master listens on every interface at the
    fixed port and the runner starts no worker; load-worker's config is a churn of the target."""
    settings = BenchSettings(
        ladder=[1], churn_users=4, workers=2, external_workers=True, master_port=5557
    )
    churn = plan(settings, _Target())[-1]
    assert (churn.workers, churn.external_workers, churn.master_port) == (2, True, 5557)
    assert (
        plan(BenchSettings(ladder=[1], churn_users=2, workers=2), _Target())[-1].master_port is None
    )
    argv = runner.locust_argv(churn, tmp_path, 20, churn.master_port)
    assert argv[argv.index("--master-bind-host") + 1] == "0.0.0.0"
    assert argv[argv.index("--expect-workers") + 1] == "2"
    remote = runner.worker_argv(5557, "eg-harness-locust-master.eg-harness.svc.cluster.local")
    assert remote[remote.index("--master-host") + 1].startswith("eg-harness-locust-master.")
    conf = runner.worker_config(_Target(), "gateway", None)
    try:
        assert (conf["mode"], conf["journey"], conf["gateway"]["token"]) == (
            "churn",
            "gateway",
            TOKEN,
        )
        assert conf["run_seconds"] == 1 and Path(conf["events_dir"]).is_dir()
    finally:
        shutil.rmtree(conf["events_dir"])


def test_load_config_gives_locust_the_step_and_the_endpoints(tmp_path):
    step = Step("storm", 3, 60, journey="hub", kernelspec="python3")
    conf = runner.load_config(_Target(hub=True), step, tmp_path)
    assert (conf["mode"], conf["users"], conf["journey"], conf["kernelspec"]) == (
        "storm",
        3,
        "hub",
        "python3",
    )
    assert conf["gateway"]["token"] == TOKEN and conf["gateway"]["launch_timeout"] == 20
    assert conf["hub"]["api_token"] == "hub-secret-token-5678"
    assert "hub" not in runner.load_config(_Target(), step, tmp_path)
    json.dumps(conf)  # it travels as a JSON file


def test_events_are_read_from_every_process_and_bad_lines_skipped(tmp_path):
    (tmp_path / "events-1.jsonl").write_text(
        json.dumps({"start": 10.0, "seconds": 2.0}) + "\nnot json\n"
    )
    (tmp_path / "events-2.jsonl").write_text(json.dumps({"start": 9.0, "seconds": 0.5}) + "\n")
    (tmp_path / "other.txt").write_text("{}")
    events = runner.read_events(tmp_path)
    assert len(events) == 2
    assert runner.event_window(events) == (9.0, 12.0)
    assert runner.event_window([]) is None


def test_generator_judged_inside_the_load_window_only():
    # A process that burnt a full core starting up, then idled through the load.
    series = {1: [(0.0, 0.0), (1.0, 1.0), (2.0, 1.05), (3.0, 1.1)]}
    quiet = cpu.judge(series, (1.5, 3.5), processes=1)
    assert quiet["valid"] and quiet["busiest_process_cores"] == pytest.approx(0.05)
    assert cpu.judge(series, (0.0, 1.2), processes=1)["busiest_process_cores"] == 1.0
    whole = cpu.judge(series, None, processes=1)
    assert whole["busiest_process_cores"] == pytest.approx(0.367, abs=1e-3)
    assert whole["cpu_s_in_window"] == 1.1 and whole["limit_cores"] == cpu.GENERATOR_BUSY_LIMIT
    # Fewer than two samples in the window say nothing, so nothing is condemned.
    assert cpu.judge(series, (0.5, 1.5), processes=1)["busiest_process_cores"] == 0.0
    # The busiest of several processes decides: one busy locust worker invalidates the run.
    two = {1: [(0.0, 0.0), (1.0, 0.1)], 2: [(0.0, 0.0), (1.0, 0.9)]}
    busy = cpu.judge(two, None, processes=2)
    assert not busy["valid"] and busy["busiest_process_cores"] == 0.9
    assert busy["cpu_s_in_window"] == 1.0


def _run(
    mode: str,
    users: int,
    ok: int,
    *,
    journey="gateway",
    generator_valid=True,
    notes=(),
    by_group=None,
):
    events = []
    for i in range(ok):
        for phase, seconds in (("start_kernel", 0.1), ("time_to_first_execute", 0.5)):
            events.append(
                {"journey": f"j{i}", "phase": phase, "start": 100.0, "seconds": seconds, "ok": True}
            )
    gen = {"valid": generator_valid, "busiest_process_cores": 0.9, "limit_cores": 0.8}
    step = Step(mode, users, 10, journey=journey)
    return runner.LoadRun(
        step, events, 3.0, 0, gen, 2.0, Path("/x"), notes=list(notes), target_cpu_by_group=by_group
    )


def test_a_hub_journeys_ceiling_counts_every_component_or_none():
    groups = {"gateway": 1.0, "kernels": 1.0, "hub": 2.0, "user servers": 3.0, "proxy": 1.0}
    s = summary.summarise(_run("storm", 2, 2, journey="hub", by_group=groups), cores=2)
    assert s.target_cpu_s == 8.0 and s.cpu_s_per_start == 4.0
    assert s.ceiling_starts_per_s == 0.5 and s.target_cpu_by_group_s == groups
    # Without the other components' accounting, the gateway's alone would flatter the hub.
    blind = summary.summarise(_run("storm", 2, 2, journey="hub"), cores=2)
    assert blind.cpu_s_per_start is None and blind.ceiling_starts_per_s is None
    assert summary.summarise(_run("storm", 2, 2), cores=2).cpu_s_per_start == 1.0


def test_spawn_concurrency_counts_accepted_spawns_in_flight_and_429s():
    def ev(start, seconds, ok=True, kind=None):
        return {"phase": "spawn", "start": start, "seconds": seconds, "ok": ok, "error_kind": kind}

    events = [
        ev(0.0, 5.0),
        ev(0.1, 4.0),
        ev(0.2, 0.1, False, "HTTP 429"),
        ev(0.3, 0.1, False, "HTTP 500"),
        ev(5.0, 2.0),  # starts as the first ends: never three at once
        {"phase": "execute", "start": 0, "seconds": 9, "ok": True, "error_kind": None},
    ]
    got = summary.spawn_concurrency(events, limit=2)
    assert got.model_dump() == {
        "limit": 2,
        "max_in_flight": 2,
        "accepted": 3,
        "throttled": 1,
        "respected": True,
    }
    assert summary.spawn_concurrency(events, limit=1).respected is False
    assert summary.spawn_concurrency(events, limit=None).respected is None


def test_bench_document_splits_storms_from_churn_and_says_why_it_is_invalid():
    storms = [summary.summarise(_run("storm", n, n), cores=2) for n in (1, 2)]
    churn = summary.summarise(
        _run("churn", 2, 6, generator_valid=False, notes=["locust exited 1: boom"]), cores=2
    )
    doc = summary.document(BenchSettings(ladder=[1, 2]), "python3", 2, {"kind": "x"}, storms)
    assert doc.churn is None and doc.valid and doc.invalid_reasons == []
    assert doc.settings["kernelspec"] == "python3" and doc.schema_ == summary.SCHEMA
    doc = summary.document(BenchSettings(), None, 2, {}, [*storms, churn])
    assert [s.concurrency for s in doc.storms] == [1, 2] and doc.churn == churn
    assert not doc.valid
    assert doc.invalid_reasons == [
        "churn at 2: a load generator process averaged 0.9 cores (limit 0.8)",
        "churn at 2: locust exited 1: boom",
    ]
    assert doc.ceiling.best_at == "churn 2"  # the sustained rate judges the ceiling
    assert doc.figures().churn.starts_per_s == churn.starts_per_s
