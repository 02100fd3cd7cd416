"""The cluster's memory and CPU under a bench (load/clustercost.py): processes grouped by
component, a step's CPU and peak memory from the samples inside its window, the pods' CPU from
the kubepods cgroup when the node has one, the report's table, and `bench --target node`
reaching the node provider through the spec registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from eg_harness.cli.main import parser
from eg_harness.load import clustercost
from eg_harness.load.bench import cluster_table
from eg_harness.load.clustercost import ProcSample, Sample, group_of, usage
from eg_harness.report.bench_results import Level
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.node import figures, kept
from eg_harness.targets.node.config import Layout
from eg_harness.targets.node.target import NodeTarget
from eg_harness.targets.spec import TargetSpec, make_target

MIB = 2**20


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EG_HARNESS_CACHE", str(tmp_path / "cache"))


def test_processes_are_grouped_by_component_and_the_rest_run_in_pods():
    assert group_of("etcd") == "etcd"
    assert group_of("kube-apiserver") == "apiserver"
    assert group_of("kube-controller") == "controller-manager"  # comm cut at 15 characters
    assert group_of("containerd") == "containerd"
    assert group_of("containerd-shim-runc-v2") == "shims"
    assert group_of("python3") == "pods" and group_of("pause") == "pods"


def _sample(t, procs, cgroup=None):
    return Sample(t, {pid: ProcSample(*p) for pid, p in procs.items()}, cgroup)


# A step from 100 to 110: etcd (started long before) and a kernel pod's python created at 104
# and gone before the last sample; the apiserver's RSS peaks in the middle.
STEP = [
    _sample(99.0, {1: ("etcd", 50.0, 40 * MIB, 1.0)}),
    _sample(100.5, {1: ("etcd", 50.5, 40 * MIB, 1.0), 2: ("apiserver", 80.0, 300 * MIB, 1.0)}),
    _sample(
        105.0,
        {
            1: ("etcd", 51.0, 41 * MIB, 1.0),
            2: ("apiserver", 81.0, 350 * MIB, 1.0),
            3: ("pods", 1.5, 60 * MIB, 104.0),
        },
    ),
    _sample(109.5, {1: ("etcd", 52.5, 40 * MIB, 1.0), 2: ("apiserver", 82.0, 320 * MIB, 1.0)}),
    _sample(111.0, {1: ("etcd", 60.0, 40 * MIB, 1.0)}),
]


def test_a_steps_cpu_counts_each_process_inside_its_window_and_a_new_one_from_zero():
    got = usage(STEP, (100.0, 110.0))
    assert got is not None
    assert got.cpu_s_by_group == {"apiserver": 2.0, "etcd": 2.0, "pods": 1.5}
    assert got.cpu_s == 5.5
    assert got.window_s == 9.0 and got.samples == 3
    assert got.cpu_cores_mean == round(5.5 / 9.0, 3)
    assert got.rss_mib_peak == 451.0  # the middle sample: 41 + 350 + 60
    assert got.rss_mib_peak_by_group == {"apiserver": 350.0, "etcd": 41.0, "pods": 60.0}
    assert got.processes_peak == 3
    assert "cgroup" not in got.source


def test_the_pods_cpu_comes_from_the_kubepods_cgroup_when_both_ends_have_it():
    with_cgroup = [
        Sample(s.t, s.procs, c) for s, c in zip(STEP, [None, 10.0, 11.0, 14.25, 15.0], strict=True)
    ]
    got = usage(with_cgroup, (100.0, 110.0))
    assert got.cpu_s_by_group["pods"] == 4.25  # a pod's processes died between samples
    assert "kubepods cgroup" in got.source
    # One end unreadable (the cgroup not made yet): the sampled processes decide.
    half = [Sample(s.t, s.procs, None if s.t < 101 else 3.0) for s in STEP]
    assert usage(half, (100.0, 110.0)).cpu_s_by_group["pods"] == 1.5


def test_a_window_with_fewer_than_two_samples_has_no_figures():
    assert usage(STEP, (101.0, 104.0)) is None


def test_samples_saved_by_a_sampler_read_back_the_same(tmp_path):
    sampler = clustercost.ClusterSampler(lambda: [psutil.Process(os.getpid())])
    sampler.samples = list(STEP)
    sampler.save(tmp_path / "s.jsonl")
    back = clustercost.load_samples((tmp_path / "s.jsonl").read_text().splitlines())
    assert back == STEP
    assert usage(back, (100.0, 110.0)) == usage(STEP, (100.0, 110.0))


def test_a_live_sample_sees_this_process_with_its_cpu_and_memory():
    me = psutil.Process(os.getpid())
    sum(i * i for i in range(200_000))  # some CPU of our own, so the figure cannot be zero
    sample = clustercost.take([me], cgroup=None)
    mine = sample.procs[os.getpid()]
    assert mine.cpu_s > 0 and mine.rss > 0 and mine.group == "pods"


def test_the_report_table_has_a_row_per_step_with_the_components():
    level = Level(concurrency=4, ok=2, cluster=usage(STEP, (100.0, 110.0)))
    table = cluster_table([Level(concurrency=1), level])
    assert [r[0] for r in table["rows"]] == [4]
    row = table["rows"][0]
    assert row[2] == 5.5 and row[4] == 2.75 and row[5] == 451.0
    assert table["columns"][4] == "CPU s per ok start"
    assert row[7] == "etcd 2.0s/41M, apiserver 2.0s/350M, pods 1.5s/60M"
    assert cluster_table([Level(concurrency=1)]) is None
    # and it survives the results document's round trip
    assert Level.model_validate(json.loads(level.model_dump_json())).cluster == level.cluster


def test_bench_takes_the_node_target_through_the_registry():
    args = parser().parse_args(["bench", "--target", "node", "--ladder", "1,2,4"])
    spec = TargetSpec.from_args(args)
    assert spec.kind == "node"
    assert isinstance(make_target(spec, with_hub=True), NodeTarget)
    with pytest.raises(SystemExit):
        parser().parse_args(["bench", "--target", "kind"])


def test_the_cluster_finder_is_the_node_clusters_and_none_elsewhere(tmp_path):
    assert figures.cluster_finder(make_target(TargetSpec())) is None  # the local target
    node = make_target(TargetSpec(kind="node"))
    assert figures.cluster_finder(node) is None  # no cluster, none kept
    # A kept cluster: its processes are the ones naming its state dir.
    state = tmp_path / "state"
    state.mkdir()
    component = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", str(state)], stdin=subprocess.PIPE
    )
    # A shim names only containerd's socket dir (outside the state dir), and has a pod under it.
    shim = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import sys; sys.stdin.read()']); ",
            f"-address={Layout(state).sockets}/containerd.sock",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        kept.write({"run_id": "r1", "state_dir": str(state), "handoff": {}})
        find = figures.cluster_finder(node)
        assert find is not None
        pod = wait_for("the shim's child", lambda: psutil.Process(shim.pid).children(), 10)
        found = {p.pid for p in find()}
        assert found == {component.pid, shim.pid, pod[0].pid}
    finally:
        component.communicate(b"")
        shim.communicate(b"")


RECORDED = Path(__file__).resolve().parents[1] / "data" / "node-cluster-samples-storm4.jsonl"


def test_recorded_samples_of_a_node_storm_give_the_figures_that_run_reported():
    """Samples saved by the bench on the node cluster (2026-12-06, storm of 4 python kernels,
    the sample before the storm included): the step's figures as the live run printed them."""
    samples = clustercost.load_samples(RECORDED.read_text().splitlines())
    got = usage(samples, (1796570710.5, 1796570715.2))
    assert (got.samples, got.window_s, got.cpu_s, got.rss_mib_peak, got.processes_peak) == (
        4,
        3.221,
        4.763,
        1365.2,
        39,
    )
    assert got.cpu_s_by_group["pods"] == 3.683  # from the kubepods cgroup
    assert {"etcd", "apiserver", "kubelet", "containerd", "shims", "pods"} <= set(
        got.rss_mib_peak_by_group
    )
    # The sample before the storm moves the window's start and so the figures.
    assert usage(samples, (1796570710.0, 1796570715.2)).cpu_s != got.cpu_s
