"""--z2jh-chart, the harness's side: the values and the command the chart is installed with.

What the harness sets over the seed's values (its images through the chart's keys, tokens) and
what it switches off, each with a reason that reaches the report. No chart is rendered here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from eg_harness.errors import TargetUnavailable
from eg_harness.targets.kind.pins import HUB_EXTRA_CONFIG, HUB_PROFILE_FORM, HUB_VALUES
from eg_harness.targets.kind.values import leaf_keys
from eg_harness.targets.node import hub, hubchart, hubimages
from eg_harness.targets.node.values import write_overlay
from eg_harness.targets.node.z2jhchart import Chart, StagedChart

IMAGES = {
    "singleuser": "eg-harness/singleuser:1111111111111111",
    "hub-z2jh": "eg-harness/hub-z2jh:2222222222222222",
    "proxy": "eg-harness/proxy:3333333333333333",
}


def _overlay(base: dict | None = None):
    base = yaml.safe_load(HUB_VALUES.read_text()) if base is None else base
    return hubchart.chart_overlay(
        api_token="hub-token-1", gateway_token="gw-token-1", images=IMAGES, base=base
    )


def test_the_images_built_here_are_set_through_the_charts_own_keys():
    overlay, _notes = _overlay()
    values = overlay.values
    assert values["hub"]["image"] == {
        "name": "eg-harness/hub-z2jh",
        "tag": "2222222222222222",
        "pullPolicy": "IfNotPresent",
    }
    assert values["proxy"]["chp"]["image"] == {
        "name": "eg-harness/proxy",
        "tag": "3333333333333333",
        "pullPolicy": "IfNotPresent",
    }
    assert values["singleuser"]["image"]["name"] == "eg-harness/singleuser"
    assert values["singleuser"]["image"]["tag"] == "1111111111111111"
    # what hub.py's install derives from the seed too: the tokens, through the same keys
    assert values["hub"]["services"]["eg-harness"]["apiToken"] == "hub-token-1"
    assert values["hub"]["extraEnv"]["EG_AUTH_TOKEN"] == "gw-token-1"


def test_what_the_cluster_cannot_run_is_switched_off_each_with_its_reason():
    overlay, notes = _overlay()
    values = overlay.values
    assert values["prePuller"] == {"hook": {"enabled": False}, "continuous": {"enabled": False}}
    assert values["scheduling"]["userScheduler"] == {"enabled": False, "pdb": {"enabled": False}}
    assert values["scheduling"]["userPlaceholder"]["enabled"] is False
    assert values["hub"]["pdb"]["enabled"] is False
    assert values["proxy"]["chp"]["pdb"]["enabled"] is False
    assert values["singleuser"]["cloudMetadata"]["blockWithIptables"] is False
    assert values["singleuser"]["storage"]["type"] == "none"
    assert values["proxy"]["service"]["type"] == "ClusterIP"
    # the hub's SQLite where sqlite-pvc would have mounted its PVC, on an emptyDir
    assert values["hub"]["db"] == {
        "type": "other",
        "url": "sqlite:////srv/jupyterhub/jupyterhub.sqlite",
    }
    [mount] = values["hub"]["extraVolumeMounts"]
    [volume] = values["hub"]["extraVolumes"]
    assert (
        mount == {"name": volume["name"], "mountPath": "/srv/jupyterhub"} and "emptyDir" in volume
    )
    # every key set has a reason in the overlay file, and every switched-off key is a report note
    for leaf in leaf_keys(values):
        assert any(leaf == k or leaf.startswith(k + ".") for k in overlay.reasons), leaf
    for key, value, why in hubchart.SWITCHED_OFF:
        assert f"z2jh chart value {key}={value!r}: {why}" in notes
        assert f"# {key}: {why}" in overlay.render()
    assert hubchart.NOT_ENFORCED in notes and hubchart.IMAGE_NOTE in notes


def test_the_overlay_file_carries_the_tokens_so_it_is_written_for_its_owner_only(tmp_path):
    overlay, _notes = _overlay()
    path = write_overlay(overlay, tmp_path / "hub-chart-overlay.yaml")
    assert path.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(path.read_text()) == overlay.values


def test_the_gateway_egress_rule_is_added_only_when_the_seeds_policy_blocks_it():
    blocked, notes = _overlay({"singleuser": {}})  # z2jh 3.2.1's default policy: blocked
    [rule] = blocked.values["singleuser"]["networkPolicy"]["egress"]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "enterprise-gateway"
    }
    assert any("blocks egress to the gateway" in n for n in notes)
    allowed, notes = _overlay({"singleuser": {"networkPolicy": {"enabled": False}}})
    assert "networkPolicy" not in allowed.values["singleuser"]
    assert not any("blocks egress to the gateway" in n for n in notes)


def test_the_command_is_the_seeds_on_the_runs_copy_with_the_overlay_last(tmp_path):
    argv = hubchart.helm_argv(
        "/bin/helm",
        tmp_path / "kubeconfig",
        tmp_path / "z2jh-chart" / "jupyterhub",
        Path("/o.yaml"),
    )
    assert argv[:4] == ["/bin/helm", "--kubeconfig", str(tmp_path / "kubeconfig"), "upgrade"]
    for flag in ("--cleanup-on-fail", "--atomic", "--install", "--create-namespace"):
        assert flag in argv  # the seed's flags, --atomic's wait included
    assert argv[argv.index("--install") + 1 : argv.index("--install") + 3] == [
        "jupyterhub",
        str(tmp_path / "z2jh-chart" / "jupyterhub"),
    ]
    assert argv[argv.index("--namespace") + 1] == "jupyterhub"
    assert f"hub.extraConfig.jupyter_gateway_config\\.py={HUB_EXTRA_CONFIG}" in argv
    assert f"hub.extraFiles.jupyter_gateway_form.stringData={HUB_PROFILE_FORM}" in argv
    values = [argv[i + 1] for i, a in enumerate(argv) if a == "--values"]
    assert values == [str(HUB_VALUES), "/o.yaml"]  # the seed's profile, then this run's overlay
    assert not any("token" in a for a in argv)  # tokens only in the 0600 overlay


def test_the_report_names_the_chart_and_what_was_changed_in_it(tmp_path):
    chart = Chart(tmp_path / "jupyterhub-3.2.1.tgz", "3.2.1", "4.0.2", ">=1.23.0-0")
    staged = StagedChart(chart, tmp_path / "copy", ("kubeVersion lowered ...",))
    first, change = hubchart.chart_notes(staged)
    assert "z2jh 3.2.1's chart" in first and str(chart.source) in first
    assert change == "kubeVersion lowered ..."
    assert "z2jh 3.2.1 chart" in hubchart.versions_line(chart)


def test_the_chart_hub_image_is_catalogued_apart_from_the_harness_hub():
    catalogue = hubimages.catalogue()
    assert set(hubchart.IMAGE_NAMES) <= set(catalogue)
    assert hub.NAMESPACE == "jupyterhub"
    # the chart's hub container imports these (its mounted jupyterhub_config.py and z2jh.py)
    wanted = (hubimages.HUB_IMAGES_DIR / "hub-z2jh" / "requirements.txt").read_text()
    for pin in ("jupyterhub==4.0.2", "jupyterhub-kubespawner==6.2.0", "pyyaml", "pycurl=="):
        assert pin in wanted
    # the harness's own hub image stays as it was: the chart's extras are not in it
    assert "pycurl" not in (hubimages.HUB_IMAGES_DIR / "hub" / "requirements.txt").read_text()


# --- the install's orchestration, with a stand-in for helm and for the cluster ---------------


class _Cluster:
    """What _helm_install asks of the cluster: its kubeconfig (for kubectl's argv) and DNS."""

    kubeconfig = Path("/nowhere/kubeconfig")

    def __init__(self):
        self.dns: dict[str, str] = {}

    def set_dns(self, name: str, ip: str) -> None:
        self.dns[name] = ip


def _services_after(monkeypatch, calls_before_ready: int) -> list[str]:
    """service_ip fails (no Service yet) for the first calls, then answers one IP per name."""
    asked: list[str] = []
    ips = {"hub": "10.96.0.10", "proxy-api": "10.96.0.11", "proxy-public": "10.96.0.12"}

    def service_ip(_kubectl, service):
        asked.append(service)
        if len(asked) <= calls_before_ready:
            raise TargetUnavailable(f"reading service jupyterhub/{service} failed")
        return ips[service]

    monkeypatch.setattr(hub, "service_ip", service_ip)
    return asked


def test_dns_gets_the_services_while_helm_still_runs_and_the_url_is_proxy_public(
    monkeypatch, tmp_path
):
    _services_after(monkeypatch, calls_before_ready=2)
    cluster = _Cluster()
    marker = tmp_path / "dns-set"
    real_set_dns = cluster.set_dns

    def set_dns(name: str, ip: str) -> None:
        real_set_dns(name, ip)
        marker.touch()

    monkeypatch.setattr(cluster, "set_dns", set_dns)
    # helm's stand-in ends only once the node's DNS has a name (as --atomic's wait would), at
    # most 10 s: exit 7 if _helm_install waited for helm before writing the DNS
    waits = (
        "import pathlib, time\n"
        "for _ in range(200):\n"
        f"    if pathlib.Path({str(marker)!r}).exists(): break\n"
        "    time.sleep(0.05)\n"
        "else:\n"
        "    raise SystemExit(7)\n"
    )
    url = hubchart._helm_install(cluster, [sys.executable, "-c", waits], lambda _m: None)
    assert url == "http://10.96.0.12:80"
    assert cluster.dns == {
        "hub.jupyterhub.svc.cluster.local": "10.96.0.10",
        "proxy-api.jupyterhub.svc.cluster.local": "10.96.0.11",
        "proxy-public.jupyterhub.svc.cluster.local": "10.96.0.12",
    }


def test_a_failed_helm_is_one_line_with_its_last_words(monkeypatch):
    _services_after(monkeypatch, calls_before_ready=10**6)  # helm fails before any Service
    fails = (
        "import sys; print('Error: INSTALLATION FAILED: chart requires kubeVersion', "
        "file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(TargetUnavailable) as info:
        hubchart._helm_install(_Cluster(), [sys.executable, "-c", fails], lambda _m: None)
    assert str(info.value) == (
        "helm install of jupyterhub from z2jh's chart failed (exit 1): "
        "Error: INSTALLATION FAILED: chart requires kubeVersion"
    )


def test_helm_is_stopped_when_its_services_never_appear(monkeypatch):
    _services_after(monkeypatch, calls_before_ready=10**6)
    monkeypatch.setattr(hubchart, "SERVICES_TIMEOUT_S", 0.5)
    started: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen(*a, **kw):
        started.append(real_popen(*a, **kw))
        return started[-1]

    monkeypatch.setattr(hubchart.subprocess, "Popen", popen)
    with pytest.raises(TargetUnavailable, match=r"did not create the hub's Services"):
        hubchart._helm_install(
            _Cluster(), [sys.executable, "-c", "import time; time.sleep(60)"], lambda _m: None
        )
    [proc] = started
    assert proc.returncode is not None  # killed and reaped, not left running
