"""The kind target's plan, built by the real builder from the repo's real cluster files.

The EG sdist is the one thing replaced here: a folder with the sdist's layout (the files the
image contexts take from it), so these tests need no network; the real sdist is used by
tests/selftest/test_kind_target.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from eg_harness.targets.kind import images as images_mod
from eg_harness.targets.kind import state, tools, values
from eg_harness.targets.kind.diagnostics import namespace_queries
from eg_harness.targets.kind.egdist import EgDist
from eg_harness.targets.kind.pins import EG_VALUES, HUB_VALUES, IMAGES_DIR, load_pins
from eg_harness.targets.kind.plan import KindSettings, build_plan


@pytest.fixture
def eg_dist(fake_eg_dist) -> EgDist:
    return fake_eg_dist(["etc/kubernetes/helm/enterprise-gateway/Chart.yaml"])


def _settings(tmp_path: Path, reuse: bool = False, keep: bool = False) -> KindSettings:
    return KindSettings(
        run_id="20250101-000000-beef",
        run_dir=tmp_path / "run",
        cluster="reused" if reuse else "egh-20250101-000000-beef",
        reuse=reuse,
        keep=keep,
        gateway_token="gw-token-0123456789",
        hub_token="hub-token-0123456789",
        gateway_host_port=41001,
        hub_host_port=41002,
    )


def _plan(tmp_path, eg_dist, **kw):
    imgs = images_mod.stage_all(eg_dist, tmp_path / "contexts")
    return build_plan(load_pins(), _settings(tmp_path, **kw), imgs, eg_dist.chart_dir)


@pytest.mark.parametrize("reuse", [False, True])
def test_every_creation_has_an_undo_and_every_wait_a_bound(tmp_path, eg_dist, reuse):
    plan = _plan(tmp_path, eg_dist, reuse=reuse)
    for step in plan.steps:
        if step.creates:
            assert step.undo is not None, f"{step.title} creates {step.creates} without undo"
        if step.kind in ("run", "background", "http"):
            assert step.timeout > 0, f"{step.title} is unbounded"
        if step.undo and step.undo.argv:
            assert step.undo.timeout > 0
    created = {
        s.creates.split(" ")[0] + " " + s.creates.split(" ")[1]
        for s in plan.steps
        if s.creates and s.kind == "run" and s.undo.argv
    }
    wanted = {f"namespace {ns}" for ns in plan.namespaces}
    wanted |= {"helm release" for _ in plan.releases}
    assert wanted <= created
    assert ("kind cluster" in created) is (not reuse)


def test_the_plan_creates_nothing_before_every_image_is_built(tmp_path, eg_dist):
    plan = _plan(tmp_path, eg_dist)
    phases = [s.phase for s in plan.steps if s.kind == "run"]
    last_build = max(i for i, p in enumerate(phases) if p == "images")
    first_cluster = phases.index("cluster")
    assert last_build < first_cluster, "a failed build must not leave a cluster behind"


def test_no_latest_and_content_tags_everywhere(tmp_path, eg_dist):
    plan = _plan(tmp_path, eg_dist)
    text = plan.render()
    assert ":latest" not in text
    for image in plan.images:
        assert re.fullmatch(r"eg-harness/[a-z-]+:[0-9a-f]{16}", image.ref)
    spec = json.loads(
        (plan.images[2].context / "kernels/python_kubernetes/kernel.json").read_text()
    )
    assert spec["metadata"]["process_proxy"]["config"]["image_name"] == plan.images[0].ref
    assert "--build-arg" in text and f"BASE_IMAGE={plan.images[0].ref}" in text


def test_a_changed_context_file_changes_its_tag_and_the_images_built_on_it(tmp_path, eg_dist):
    before = {i.name: i.ref for i in images_mod.stage_all(eg_dist, tmp_path / "a")}
    again = {i.name: i.ref for i in images_mod.stage_all(eg_dist, tmp_path / "b")}
    assert before == again, "staging twice must give the same tags"
    copy = tmp_path / "images"
    shutil.copytree(IMAGES_DIR, copy)
    req = copy / "kernel-py" / "requirements.txt"
    req.write_text(req.read_text() + "# changed\n")
    after = {i.name: i.ref for i in images_mod.stage_all(eg_dist, tmp_path / "c", copy)}
    assert after["kernel-py"] != before["kernel-py"]
    assert after["kernel-spark-py"] != before["kernel-spark-py"]  # built FROM kernel-py
    assert after["kernelspecs"] != before["kernelspecs"]  # its kernel.json names kernel-py
    assert after["singleuser"] == before["singleuser"]


def test_reused_cluster_is_reached_by_port_forward_not_node_ports(tmp_path, eg_dist):
    plan = _plan(tmp_path, eg_dist, reuse=True)
    argvs = [s.argv for s in plan.steps if s.argv]
    assert not any(a[1:3] == ("create", "cluster") for a in argvs)
    forwards = [s for s in plan.steps if s.kind == "background"]
    assert len(forwards) == 2 and all("port-forward" in s.argv for s in forwards)
    eg = plan.overlays["gateway"].values
    assert eg["service"]["type"] == "ClusterIP"
    assert all("nodePort" not in p for p in eg["service"]["ports"])


def test_kind_config_maps_the_node_ports_the_values_files_use(tmp_path, eg_dist):
    plan = _plan(tmp_path, eg_dist)
    config_step = next(s for s in plan.steps if s.path and s.path.name == "kind-config.yaml")
    config = yaml.safe_load(config_step.content)
    node = config["nodes"][0]
    assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", node["image"])
    assert node["labels"]["eg-harness/run-id"] == plan.settings.run_id
    mapped = {m["containerPort"]: m for m in node["extraPortMappings"]}
    assert all(m["listenAddress"] == "127.0.0.1" for m in mapped.values())
    eg_ports = yaml.safe_load(EG_VALUES.read_text())["service"]["ports"]
    eg_node_port = next(p["nodePort"] for p in eg_ports if p["port"] == 8888)
    assert mapped[eg_node_port]["hostPort"] == plan.settings.gateway_host_port
    hub_node_port = plan.overlays["hub"].values["proxy"]["service"]["nodePorts"]["http"]
    assert mapped[hub_node_port]["hostPort"] == plan.settings.hub_host_port


def test_overlays_give_a_reason_for_every_key_and_keep_tokens_strings(tmp_path, eg_dist):
    plan = _plan(tmp_path, eg_dist)
    for overlay in plan.overlays.values():
        for key in values.leaf_keys(overlay.values):
            assert any(key == r or key.startswith(r + ".") for r in overlay.reasons), key
        parsed = yaml.safe_load(overlay.render())
        assert parsed == overlay.values
    assert plan.overlays["gateway"].values["authToken"] == "gw-token-0123456789"
    digits = values.gateway_overlay(token="1234567890", kernelspecs_ref="x:1", node_port=1, base={})
    assert isinstance(yaml.safe_load(digits.render())["authToken"], str)


def test_dry_run_text_has_no_token_and_shows_the_deployment_files(tmp_path, eg_dist):
    from eg_harness.runtime import secrets

    plan = _plan(tmp_path, eg_dist)
    secrets.register(plan.settings.gateway_token, plan.settings.hub_token)
    text = plan.render()
    assert plan.settings.gateway_token not in text and plan.settings.hub_token not in text
    for path in plan.values_files:
        first = next(ln for ln in path.read_text().splitlines() if ln.strip())
        assert first in text, f"{path.name} is not printed"
    for step in plan.steps:
        if step.argv:
            assert step.command_line() in text


@pytest.mark.parametrize(
    ("policy", "blocked"),
    [
        ({}, True),  # z2jh's defaults: enabled, private IPs denied
        ({"enabled": False}, False),
        ({"egressAllowRules": {"privateIPs": True}}, False),
        ({"egress": [values.gateway_egress_rule("enterprise-gateway")]}, False),
        ({"egress": [values.gateway_egress_rule("elsewhere")]}, True),
    ],
)
def test_network_policy_rule_only_when_the_chart_would_block(policy, blocked):
    hub = {"singleuser": {"networkPolicy": policy}}
    assert values.gateway_egress_blocked(hub, "enterprise-gateway") is blocked
    overlay, opened = values.hub_overlay(
        api_token="a" * 10,
        gateway_token="b" * 10,
        singleuser_ref="eg-harness/su:0123",
        node_port=30080,
        base=hub,
        eg_namespace="enterprise-gateway",
    )
    assert opened is blocked
    rules = overlay.values.get("singleuser", {}).get("networkPolicy", {}).get("egress")
    assert (rules is not None) is blocked


def test_the_profile_values_file_is_judged_as_written():
    base = yaml.safe_load(HUB_VALUES.read_text())
    profile = next(p for p in base["singleuser"]["profileList"] if p["slug"] == "jupyter-gateway")
    assert "jupyter_gateway_url" in profile["kubespawner_override"]
    # What the note in the report rests on: the seed's values leave the chart's policy on.
    assert values.gateway_egress_blocked(base, load_pins().eg["namespace"])


def _pod(name, ready, containers, restarts=None, init=()):
    restarts = restarts or {}
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": c} for c in containers],
            "initContainers": [{"name": c} for c in init],
        },
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {"name": c, "restartCount": restarts.get(c, 0)} for c in containers
            ],
        },
    }


def test_namespace_report_describes_unready_pods_and_keeps_previous_logs():
    pods = [
        _pod("hub-1", True, ["hub"]),
        _pod(
            "enterprise-gateway-1",
            False,
            ["enterprise-gateway"],
            {"enterprise-gateway": 3},
            init=["kernelspecs"],
        ),
    ]
    queries = {q.filename: q.argv for q in namespace_queries(["kubectl"], "ns", pods)}
    assert "describe-enterprise-gateway-1.txt" in queries
    assert "describe-hub-1.txt" not in queries
    assert "logs-enterprise-gateway-1-kernelspecs.txt" in queries
    assert "--previous" in queries["logs-enterprise-gateway-1-enterprise-gateway-previous.txt"]
    assert "logs-hub-1-hub-previous.txt" not in queries
    assert {"pods.txt", "events.txt"} <= set(queries)


@pytest.mark.parametrize(
    ("tool", "output", "version"),
    [
        ("kind", "kind v0.27.0 go1.23.6 linux/amd64", "v0.27.0"),
        ("helm", "v3.17.3", "v3.17.3"),
        ("docker", "28.2.2\n", "28.2.2"),
        ("kubectl", '{"clientVersion": {"gitVersion": "v1.32.4"}}', "v1.32.4"),
        ("kind", "something else", None),
        ("kubectl", "not json", None),
    ],
)
def test_tool_versions_are_read_from_each_tools_own_answer(tool, output, version):
    got = tools.parse_version(tool, output)
    assert (got.text if got else None) == version


def test_version_minimums():
    assert tools.Version("v3.5.0").at_least("3.5.0")
    assert tools.Version("v3.17.3").at_least("3.5.0")
    assert not tools.Version("v3.4.9").at_least("3.5.0")
    assert not tools.Version("v0.26.0").at_least("v0.27.0")


def test_down_deletes_created_clusters_and_only_the_runs_namespaces_of_reused_ones():
    created = state.down_commands({"run_id": "r1", "cluster": "egh-r1", "created": True})
    assert created[0][1:] == ["delete", "cluster", "--name", "egh-r1"]
    reused = state.down_commands({"run_id": "r2", "cluster": "mine", "created": False})
    assert "--selector=eg-harness/run-id=r2" in reused[0]
    assert "cluster" not in reused[0]


def test_the_installed_deployment_gives_the_kubernetes_suite_its_cluster(tmp_path, eg_dist):
    """What the scenarios get once the plan has run: one Kubernetes access path with the
    deployment's namespaces and service, through the existing target's model."""
    from eg_harness.targets.abilities import ClusterAccess
    from eg_harness.targets.existing.target import apply_config
    from eg_harness.targets.kind.target import KindTarget, target_config

    plan = _plan(tmp_path, eg_dist)
    pins = load_pins()
    kind = KindTarget(run_id="r-kind")
    apply_config(kind, target_config(plan, pins))
    access = kind.ability(ClusterAccess).kubernetes()
    assert access.kubeconfig == str(plan.settings.kubeconfig)
    assert (access.namespace, access.gateway_service, access.hub_namespace) == (
        pins.eg["namespace"],
        pins.eg["service"],
        pins.hub["namespace"],
    )
    assert access.shared_namespace is False and access.network_policy_enforced is True


def test_the_kind_hub_service_has_the_local_hub_services_scopes():
    # One harness, two hubs: a bench samples /hub/metrics on either, so the kind overlay's role
    # must grant what the local hub's role grants (read:metrics was missing once).
    from eg_harness import resources

    config = (resources.LOCAL_CLUSTER / "hub" / "jupyterhub_config.py").read_text()
    block = re.search(r'"scopes": \[(.*?)\]', config, re.S)
    assert block, "no scopes list in the local hub config"
    local = set(re.findall(r'"([a-z:]+)"', block.group(1)))
    assert set(values.HUB_SERVICE_SCOPES) == local
