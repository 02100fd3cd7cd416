"""The seed's hub from z2jh 3.2.1's own chart on the node cluster, when the user passes it.

With `--z2jh-chart` the node target installs the hub as the seed does, by helm from z2jh's
chart, instead of hub.py's Deployment laid out without it. The seed's command stays as written
(`helm upgrade --cleanup-on-fail --atomic --install jupyterhub ... --create-namespace -n
jupyterhub --values <the profile> --set-file hub.extraConfig... --set-file
hub.extraFiles...`), on the run's copy of the chart (z2jhchart.py: the kubeVersion floor
lowered), with one more values file after the seed's: this run's overlay. The overlay is what
hub.py's install also derives from the seed (tokens, the single-user image: kind's
`hub_run_values`), the images built here set through the chart's own keys, and the parts of
the chart this cluster cannot run switched off, each with its reason (SWITCHED_OFF); the report
lists every one of them as a deviation from the seed.

The node's service names resolve through dnsmasq entries the harness writes (NodeCluster.set_dns)
once the chart's Services have ClusterIPs: helm runs in the background while they are read, so
the hub's first start finds `proxy-api` and the user pods find `hub`, and `--atomic` (helm waits
for the hub and the proxy to be ready) stays the seed's.

Not run here: z2jh 3.2.1 cannot be fetched on this machine (no registry reachable has it). Built
for a machine that has the chart; the unit tests check the harness's side (the overlay, the
argv, the staging), not an install.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from eg_harness.errors import HarnessError, TargetUnavailable
from eg_harness.runtime import secrets
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.kind.pins import HUB_EXTRA_CONFIG, HUB_PROFILE_FORM, HUB_VALUES
from eg_harness.targets.kind.values import (
    Overlay,
    _get,
    gateway_egress_blocked,
    gateway_egress_rule,
    hub_run_values,
)
from eg_harness.targets.node import hub as node_hub
from eg_harness.targets.node import install
from eg_harness.targets.node.cluster import NodeCluster
from eg_harness.targets.node.values import write_overlay
from eg_harness.targets.node.z2jhchart import Chart, StagedChart, stage_chart

Progress = Callable[[str], None]

RELEASE = "jupyterhub"  # the seed's release name
HUB_IMAGE = "hub-z2jh"  # clusters/node/hub/images.json: what the chart's hub container imports
IMAGE_NAMES = ("singleuser", HUB_IMAGE, "proxy")
SERVICES = ("hub", "proxy-api", "proxy-public")
HELM_TIMEOUT_S = 600
SERVICES_TIMEOUT_S = 120.0
HUB_DB = "/srv/jupyterhub"

# Chart values this cluster cannot honour as z2jh's defaults have them: (key, value, reason).
SWITCHED_OFF: tuple[tuple[str, Any, str], ...] = (
    (
        "prePuller.hook.enabled",
        False,
        "its image (k8s-image-awaiter) is on no registry here; the images are in containerd",
    ),
    (
        "prePuller.continuous.enabled",
        False,
        "its pause image is on no registry here, and there is nothing to pull ahead",
    ),
    (
        "scheduling.userScheduler.enabled",
        False,
        "its kube-scheduler image is on no registry here (and one node has nothing to pack)",
    ),
    (
        "scheduling.userScheduler.pdb.enabled",
        False,
        "a policy/v1 PodDisruptionBudget, served from Kubernetes 1.21; the cluster is 1.20",
    ),
    (
        "scheduling.userPlaceholder.enabled",
        False,
        "placeholder pods run the pause image, on no registry here",
    ),
    (
        "hub.pdb.enabled",
        False,
        "a policy/v1 PodDisruptionBudget, served from Kubernetes 1.21; the cluster is 1.20",
    ),
    (
        "proxy.chp.pdb.enabled",
        False,
        "a policy/v1 PodDisruptionBudget, served from Kubernetes 1.21; the cluster is 1.20",
    ),
    (
        "singleuser.cloudMetadata.blockWithIptables",
        False,
        "its init container's image (k8s-network-tools) is on no registry here; the node has "
        "no cloud metadata endpoint to block",
    ),
    (
        "singleuser.storage.type",
        "none",
        "no storage provisioner on the node cluster: a user PVC would stay Pending",
    ),
    (
        "hub.db.type",
        "other",
        "no storage provisioner for sqlite-pvc's PVC: SQLite on an emptyDir instead (hub.db.url)",
    ),
    (
        "hub.db.url",
        f"sqlite:///{HUB_DB}/jupyterhub.sqlite",
        "SQLite in the hub's emptyDir: it outlives a hub container restart, not the pod",
    ),
    (
        "hub.extraVolumes",
        [{"name": "hub-db-emptydir", "emptyDir": {}}],
        "the emptyDir hub.db.url lives in",
    ),
    (
        "hub.extraVolumeMounts",
        [{"name": "hub-db-emptydir", "mountPath": HUB_DB}],
        "where sqlite-pvc would mount its PVC",
    ),
    (
        "proxy.service.type",
        "ClusterIP",
        "no load balancer on the node cluster (--atomic would wait for an external IP "
        "forever); the harness reaches proxy-public's ClusterIP from the host",
    ),
)
NOT_ENFORCED = (
    "z2jh chart: its NetworkPolicies (hub, proxy, singleuser) are created as the seed's values "
    "give them, but the node's CNI bridge enforces none"
)
IMAGE_NOTE = (
    "z2jh chart: hub, proxy and single-user images built here, not z2jh 3.2.1's published "
    "ones (no registry): the hub image is JupyterHub 4.0.2 + KubeSpawner 6.2.0 with pycurl "
    "7.45.3 and jupyterhub-idle-culler 1.2.1 (clusters/node/hub/images/hub-z2jh); z2jh's "
    "authenticators other than the dummy one, its database drivers and tools are not in it"
)


def chart_overlay(
    *,
    api_token: str,
    gateway_token: str,
    images: dict[str, str],
    base: dict[str, Any],
    eg_namespace: str = install.NAMESPACE,
) -> tuple[Overlay, list[str]]:
    """This run's values for the chart, each key with its reason, and the notes they add to the
    report. `images`: name -> reference for IMAGE_NAMES; `base`: the seed's values file."""
    values, reasons, put = hub_run_values(
        api_token=api_token,
        gateway_token=gateway_token,
        singleuser_ref=images["singleuser"],
        image_note="node: imported into containerd, there is no registry",
    )
    for key, name in (("hub.image", HUB_IMAGE), ("proxy.chp.image", "proxy")):
        ref_name, tag = images[name].rsplit(":", 1)
        put(f"{key}.name", ref_name, f"the {name} image built here")
        put(f"{key}.tag", tag, "its content-hash tag (never latest)")
        put(f"{key}.pullPolicy", "IfNotPresent", "node: imported into containerd, no registry")
    for key, value, why in SWITCHED_OFF:
        put(key, value, why)
    notes = [f"z2jh chart value {key}={value!r}: {why}" for key, value, why in SWITCHED_OFF]
    notes += [NOT_ENFORCED, IMAGE_NOTE]
    if gateway_egress_blocked(base, eg_namespace):
        rules = list(_get(base, "singleuser.networkPolicy.egress", []) or [])
        put(
            "singleuser.networkPolicy.egress",
            [*rules, gateway_egress_rule(eg_namespace)],
            "z2jh's default policy denies egress to private IPs, which include the gateway's",
        )
        notes.append(
            "z2jh's default single-user network policy blocks egress to the gateway's "
            "ClusterIP; this run adds an egress rule for it (singleuser.networkPolicy.egress), "
            "and the seed's install would need the same rule"
        )
    return Overlay("hub overlay (node, z2jh chart)", values, reasons), notes


def helm_argv(
    helm: str, kubeconfig: Path, chart_dir: Path, overlay: Path, timeout_s: int = HELM_TIMEOUT_S
) -> list[str]:
    """The seed's z2jh command on the run's copy of the chart, this run's overlay last."""
    return [
        helm,
        "--kubeconfig",
        str(kubeconfig),
        "upgrade",
        "--cleanup-on-fail",
        "--atomic",
        "--install",
        RELEASE,
        str(chart_dir),
        "--create-namespace",
        "--namespace",
        node_hub.NAMESPACE,
        "--values",
        str(HUB_VALUES),
        "--set-file",
        f"hub.extraConfig.jupyter_gateway_config\\.py={HUB_EXTRA_CONFIG}",
        "--set-file",
        f"hub.extraFiles.jupyter_gateway_form.stringData={HUB_PROFILE_FORM}",
        "--values",
        str(overlay),
        f"--timeout={timeout_s}s",
    ]


def install_hub_chart(
    cluster: NodeCluster,
    gateway_token: str,
    chart: Chart,
    helm: str,
    progress: Progress = print,
    *,
    work: Path,
    diagnostics_dir: Path | None = None,
    figures: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Build and import the images, stage the chart, install it with the seed's command, wait
    until the hub answers its service token from the host. Returns what hub.install_hub does
    (the existing target's `hub:` section, `hub_namespace`, `images`, `notes`), the notes being
    this install's deviations from the seed."""
    figures = figures if figures is not None else {}
    t0 = time.monotonic()
    built = node_hub.hub_images(cluster, progress, IMAGE_NAMES)
    figures["hub_images_s"] = round(time.monotonic() - t0, 1)
    staged = stage_chart(chart, work / "z2jh-chart", cluster.pins.kubernetes["git_version"])
    base = yaml.safe_load(HUB_VALUES.read_text()) or {}
    api_token = secrets.new_token()
    refs = {name: image.ref for name, image in built.items()}
    overlay, notes = chart_overlay(
        api_token=api_token, gateway_token=gateway_token, images=refs, base=base
    )
    overlay_path = write_overlay(overlay, work / "hub-chart-overlay.yaml")
    argv = helm_argv(helm, cluster.kubeconfig, staged.path, overlay_path)
    t1 = time.monotonic()
    try:
        progress(f"installing z2jh {chart.version} from its chart: {' '.join(argv)}")
        url = _helm_install(cluster, argv, progress)
        node_hub.wait_answers(url, api_token, progress)
    except HarnessError as exc:
        where = node_hub.namespace_report(cluster, diagnostics_dir or work, progress)
        raise TargetUnavailable(f"{exc}{where}") from None
    figures["hub_install_s"] = round(time.monotonic() - t1, 1)
    # The values the hub reads: the seed's file, its --set-file pieces, the overlay.
    values = node_hub.hub_values(overlay)
    return {
        "hub": {
            "url": url,
            "api_token": api_token,
            "profile": node_hub.PROFILE,
            "user_options": dict(node_hub.USER_OPTIONS),
            "spawn_timeout": node_hub.SPAWN_TIMEOUT_S,
            "pages": node_hub.hub_pages(values),
        },
        "hub_namespace": node_hub.NAMESPACE,
        "images": refs,
        "notes": [*chart_notes(staged), *notes, node_hub.SEED_CHOICE_NOTE],
    }


def chart_notes(staged: StagedChart) -> list[str]:
    """The staged chart's own line for the report, then what was changed in it."""
    return [
        f"hub installed from z2jh {staged.chart.version}'s chart (appVersion "
        f"{staged.chart.app_version}, passed with --z2jh-chart {staged.chart.source}) by the "
        "seed's helm command, this run's overlay after the seed's values",
        *staged.changes,
    ]


def _helm_install(cluster: NodeCluster, argv: list[str], progress: Progress) -> str:
    """helm in the background; the Services' ClusterIPs into the node's DNS as soon as helm
    has created them; then helm's own wait (--atomic). Returns proxy-public's URL."""
    kubectl = node_hub.kubectl_argv(cluster)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        try:
            ips: dict[str, str] = {}

            def services_have_ips() -> bool:
                if proc.poll() is not None:
                    return True  # helm ended (failed, or done): its exit status says which
                for service in SERVICES:
                    if service not in ips:
                        try:
                            ips[service] = node_hub.service_ip(kubectl, service)
                        except HarnessError:
                            return False
                return True

            try:
                wait_for(
                    "the chart's Services", services_have_ips, SERVICES_TIMEOUT_S, max_interval=1
                )
            except WaitTimeout:
                raise TargetUnavailable(
                    f"helm did not create the hub's Services {', '.join(SERVICES)} in "
                    f"{SERVICES_TIMEOUT_S:.0f}s"
                ) from None
            for service, ip in ips.items():
                cluster.set_dns(f"{service}.{node_hub.NAMESPACE}.svc.cluster.local", ip)
            try:
                code = proc.wait(timeout=HELM_TIMEOUT_S + 60)
            except subprocess.TimeoutExpired:
                raise TargetUnavailable(
                    f"helm install of {RELEASE} did not finish in {HELM_TIMEOUT_S + 60}s"
                ) from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
            raise TargetUnavailable(
                secrets.redact(
                    f"helm install of {RELEASE} from z2jh's chart failed (exit {code}): "
                    + (" | ".join(tail) or "no output")
                )
            )
    for service in SERVICES:  # helm was done before they were read (not seen so far)
        if service not in ips:
            ips[service] = node_hub.service_ip(kubectl, service)
            cluster.set_dns(f"{service}.{node_hub.NAMESPACE}.svc.cluster.local", ips[service])
    return f"http://{ips['proxy-public']}:{node_hub.PROXY_PUBLIC_PORT}"


def versions_line(chart: Chart) -> str:
    """The report's `jupyterhub` version line for a hub installed from the chart."""
    return (
        f"z2jh {chart.version} chart (appVersion {chart.app_version}): JupyterHub 4.0.2 + "
        "KubeSpawner 6.2.0 in the hub image built here, configurable-http-proxy 4.5.6"
    )
