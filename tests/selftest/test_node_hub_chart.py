"""The node target with the hub from z2jh 3.2.1's own chart (`--z2jh-chart`), end to end.

Needs the chart, which no registry reachable from the development machine carries: set
EG_HARNESS_Z2JH_CHART to the .tgz (or directory) `helm pull jupyterhub --repo
https://hub.jupyter.org/helm-chart/ --version 3.2.1` gives. Without it every test here skips
saying so; it has not run on the development machine. One bring-up of its own (a kept cluster's
hub is not the chart's, so none may be up); run it under the node lock like every node selftest.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from eg_harness.targets.node import kept
from selftest_tools import HUB_SCENARIOS, HarnessRun, run_harness

pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.xdist_group("node")]

CHART = os.environ.get("EG_HARNESS_Z2JH_CHART")
RUN_TIMEOUT_S = 1800  # a first run also builds the hub-z2jh image
# The hub scenarios of the node tier, through KubeSpawner pods of the chart's hub.
SELECT = " or ".join(HUB_SCENARIOS) + " or (hub and not bad_memory)"


@pytest.fixture(scope="module")
def chart_run(tmp_path_factory) -> HarnessRun:
    if not CHART:
        pytest.skip(
            "z2jh 3.2.1's chart is not on this machine: set EG_HARNESS_Z2JH_CHART to the .tgz "
            "from `helm pull jupyterhub --repo https://hub.jupyter.org/helm-chart/ --version "
            "3.2.1`"
        )
    if kept.find() is not None:
        pytest.skip("a kept node cluster is up (its hub is not the chart's): `eg-harness down`")
    return run_harness(
        [
            "run",
            "--target",
            "node",
            "--z2jh-chart",
            CHART,
            "--suite",
            "auth,startup,conformance",
            "--",
            "-k",
            SELECT,
        ],
        tmp_path_factory.mktemp("node-hub-chart"),
        timeout=RUN_TIMEOUT_S,
    )


def test_hub_scenarios_pass_with_the_hub_from_z2jhs_chart(chart_run):
    run = chart_run
    bad = [t for t in run.results["tests"] if t["outcome"] not in ("passed", "skipped", "xfailed")]
    assert not bad, [(t["name"], t["outcome"], t.get("message")) for t in bad]
    for name in HUB_SCENARIOS:
        assert [t["outcome"] for t in run.outcome(name)] == ["passed"], run.outcome(name)
    assert run.returncode == 0, run.explain()


def test_the_report_names_the_chart_and_every_change_made_for_the_cluster(chart_run):
    target = chart_run.results["target"]
    notes = " ".join(target.get("notes") or [])
    assert "hub installed from z2jh 3.2.1's chart" in notes, notes
    assert "kubeVersion" in notes and "'>=1.20.0-0'" in notes, notes
    assert "z2jh chart value scheduling.userScheduler.enabled=False" in notes, notes
    assert "without z2jh 3.2.1's chart" not in notes, notes
    assert "z2jh 3.2.1 chart" in target["versions"]["jupyterhub"], target["versions"]


def test_the_run_leaves_no_cluster(chart_run):
    bridges = subprocess.run(
        ["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True, timeout=10
    )
    assert "egh-br0" not in bridges.stdout, bridges.stdout
    assert kept.find() is None
