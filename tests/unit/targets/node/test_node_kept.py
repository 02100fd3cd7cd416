"""A kept node cluster (kept.py), live faults (livefaults.py) and their helm and kubectl
commands (install.py), without a cluster: records, locks, which faults a live install can take,
and the undo order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eg_harness.cli.main import parser
from eg_harness.errors import ConfigError, HarnessError, TargetUnavailable
from eg_harness.targets.abilities import KeptDeployment
from eg_harness.targets.faults import CATALOGUE, Catch, Fault
from eg_harness.targets.node import install, kept, livefaults
from eg_harness.targets.node.target import NodeTarget


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EG_HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fault(**changes) -> Fault:
    catch = Catch(suite="kubernetes", select="x", test="test_x", words=("w",))
    return Fault(name="f", description="d", symptom="s", caught_by=(catch,), **changes)


def test_a_record_counts_only_while_its_keeper_lives():
    kept.write({"run_id": "r1", "handoff": {}})
    assert kept.find()["run_id"] == "r1"
    assert os.stat(kept.record_path()).st_mode & 0o777 == 0o600  # it holds tokens
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    kept.write({"run_id": "r2", "owner_pid": dead.pid})
    assert kept.find() is None
    assert not kept.record_path().exists()  # a stale record is removed


def test_forget_removes_only_its_own_record():
    kept.write({"run_id": "r1"})
    kept.forget("another")
    assert kept.find() is not None
    kept.forget("r1")
    assert kept.find() is None


def test_runs_share_a_kept_cluster_but_a_faulted_run_has_it_alone():
    a = kept.hold("plain-1", alone=False)
    b = kept.hold("plain-2", alone=False)
    with pytest.raises(TargetUnavailable, match="needs it alone"):
        kept.hold("faulted", alone=True)
    a.close()
    b.close()
    c = kept.hold("faulted", alone=True)
    with pytest.raises(TargetUnavailable, match="with a seeded fault"):
        kept.hold("plain-3", alone=False)
    c.close()


def test_live_faults_take_image_and_role_changes_and_name_the_rest():
    assert livefaults.unsupported(_fault(gateway_role_revokes=("create pods",))) == []
    assert livefaults.unsupported(_fault(kernel_pod_template_drops=("x: y",))) == []
    assert livefaults.unsupported(_fault(gateway_env={"A": "1"})) == ["gateway_env"]
    with pytest.raises(ConfigError, match=r"f changes gateway_env .*livefaults\.py"):
        livefaults.LiveFaults([_fault(gateway_env={"A": "1"})], ["kubectl"], ["helm"])
    # Every node fault of the catalogue is judged (none slips through unnoticed).
    for fault in (f for f in CATALOGUE if "node" in f.targets):
        fields = livefaults.unsupported(fault)
        assert all(f not in livefaults.LIVE_FIELDS for f in fields), (fault.name, fields)


def test_a_live_kernelspecs_fault_is_a_reuse_values_upgrade_undone_by_rollback():
    argv = install.upgrade_argv(
        ["helm", "--kubeconfig", "k"],
        Path("/chart"),
        kernelspecs_ref="eg-harness/kernelspecs-faulty:abc",
        values=[],
        timeout_s=300,
    )
    assert argv[:5] == ["helm", "--kubeconfig", "k", "upgrade", install.RELEASE]
    assert "--reuse-values" in argv and "--wait" in argv  # the token and overlays stay
    assert argv[argv.index("--set") + 1] == "kernelspecs.image=eg-harness/kernelspecs-faulty:abc"
    back = install.rollback_argv(["helm"], 3, 300)
    assert back[:4] == ["helm", "rollback", install.RELEASE, "3"]
    assert back[back.index("--namespace") + 1] == install.NAMESPACE


def test_undo_runs_last_change_first_and_reports_what_failed():
    live = livefaults.LiveFaults([], ["kubectl"], ["helm"], progress=lambda _m: None)
    order = []

    def broken():
        order.append("role")
        raise TargetUnavailable("kubectl patch failed")

    live._undo = [("image", lambda: order.append("image")), ("role", broken)]
    left = live.undo()
    assert order == ["role", "image"]
    assert len(left) == 1 and "role failed: kubectl patch failed" in left[0]
    assert live.undo() == []  # undone once


def test_a_failed_apply_undoes_what_it_changed(monkeypatch):
    calls = []
    monkeypatch.setattr(install, "role_rules", lambda *_a: [{"verbs": ["create"]}])
    monkeypatch.setattr(install, "set_role_rules", lambda _k, rules, _t: calls.append(rules))

    def revoke(*_a):
        raise HarnessError("patch refused")

    monkeypatch.setattr(livefaults.seeded, "revoke_rights", revoke)
    live = livefaults.LiveFaults(
        [_fault(gateway_role_revokes=("create pods",))], ["kubectl"], ["helm"], lambda _m: None
    )
    with pytest.raises(HarnessError, match="patch refused"):
        live.apply(Path("/chart"), lambda: None, lambda *_a: None)
    assert calls == [[{"verbs": ["create"]}]]  # the rules as read, put back


def test_the_node_target_can_be_kept_and_up_takes_a_target():
    target = NodeTarget(run_id="unit-kept")
    assert target.ability(KeptDeployment) is target
    with pytest.raises(TargetUnavailable, match="provision it first"):
        target.keep()
    args = parser().parse_args(["up", "--target", "node"])
    assert args.target == "node"
    assert parser().parse_args(["up"]).target == "local"


def test_a_run_finding_a_kept_cluster_attaches_without_bringing_one_up(monkeypatch):
    handoff = {
        "kind": "node",
        "run_id": "keeper",
        "gateway": {"url": "http://10.0.0.1:8888", "token": "t" * 48},
        "hub": None,
        "spark": None,
        "capabilities": {},
        "notes": ["hub note"],
        "faults": [],
        "versions": {"kubernetes": "v1.20.2"},
        "kubeconfig": "/tmp/k",
        "exiting_image": "eg-harness/kernelspecs:x",
        "hub_namespace": None,
    }
    kept.write({"run_id": "keeper", "state_dir": "/nowhere", "chart_dir": "/c", "handoff": handoff})
    monkeypatch.setattr(NodeTarget, "_wait_answers", lambda *_a: None)  # no gateway in a unit test
    monkeypatch.setattr(
        "eg_harness.targets.node.target.preflight.require",
        lambda *_a: pytest.fail("a run on a kept cluster must not bring one up"),
    )
    target = NodeTarget(run_id="mine")
    target.provision(lambda _m: None)
    assert target.run_id == "mine"  # its own report and leftovers, not the keeper's
    assert target.gateway.url == "http://10.0.0.1:8888"
    assert str(target.kubeconfig) == "/tmp/k"
    assert any("kept by `eg-harness up --target node` (run keeper)" in n for n in target.notes)
    assert target.teardown() == {"node": []}  # the cluster stays
    assert kept.find() is not None
    json.dumps(target.handoff())  # a parallel run's workers get the kept cluster's access


def test_a_hub_profile_fault_is_undone_with_the_values_it_replaced(monkeypatch):
    seen = []
    monkeypatch.setattr(
        livefaults.seeded, "seed_hub", lambda _k, _f, ns, slug, progress: f"{ns}/{slug}:before"
    )
    monkeypatch.setattr(
        livefaults.seeded, "restore_hub", lambda _k, ns, before: seen.append((ns, before))
    )
    live = livefaults.LiveFaults(
        [_fault(hub_profile_unsets=("jupyter_gateway_url",))],
        ["kubectl"],
        ["helm"],
        lambda _m: None,
        hub_namespace="hubns",
        hub_profile="jupyter-gateway",
    )
    live.apply(Path("/chart"), lambda: None, lambda *_a: None)
    assert seen == []
    assert live.undo() == []
    assert seen == [("hubns", "hubns/jupyter-gateway:before")]
