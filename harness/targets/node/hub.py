"""The seed's JupyterHub on the node cluster: KubeSpawner user pods in gateway mode.

z2jh 3.2.1's chart is on no registry reachable here and declares kubeVersion >= 1.23 (the node
cluster is v1.20.2), so the hub is installed as z2jh lays it out, without the chart: a `hub`
Deployment (JupyterHub 4.0.2 + KubeSpawner 6.2.0, z2jh 3.2.1's versions) with its
ServiceAccount and z2jh's Role for KubeSpawner, a `proxy` Deployment of its own
(configurable-http-proxy, as z2jh runs it: user routes survive a hub restart, which the hub
fault scenarios rely on) behind `proxy-api` and `proxy-public`, and a Secret `hub` holding the
values. The values are the deployment's own: clusters/kind/jupyterhub-profile/values.yaml
with the seed's two --set-file pieces (extra-config.py as hub.extraConfig, profile-form.html
as hub.extraFiles) and this run's overlay (tokens, the single-user image); the hub's config
applies them with the audit's z2jh mapping (clusters/node/hub/images/hub/jupyterhub_config.py).
That the chart is not used is the one deviation from the seed, with what follows from it in
DEVIATIONS. A user who has the chart passes it (`--z2jh-chart`) and hubchart.py installs the
hub from it instead, reusing this module's values, pages and waits.

The harness reaches the hub at proxy-public's ClusterIP from the host (kube-proxy routes it),
as it reaches EG. The service names the pods use (`hub`, `proxy-api`, and EG's) resolve through
the node's dnsmasq (NodeCluster.set_dns). Entry point: `install_hub`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml
from eg_harness import resources
from eg_harness.errors import HarnessError, TargetUnavailable
from eg_harness.runtime import secrets
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.kind import diagnostics, tools
from eg_harness.targets.kind.images import Image
from eg_harness.targets.kind.values import Overlay, hub_run_values
from eg_harness.targets.node import install
from eg_harness.targets.node.cluster import NodeCluster
from eg_harness.targets.node.hubimages import NAMES, build_hub_images
from eg_harness.targets.node.images import export_image

Progress = Callable[[str], None]

PROFILE_DIR = resources.CLUSTERS / "kind" / "jupyterhub-profile"
HUB_VERSIONS = (
    "JupyterHub 4.0.2 + KubeSpawner 6.2.0 (z2jh 3.2.1's), configurable-http-proxy 4.5.6; "
    "installed without the z2jh chart"
)
NAMESPACE = "jupyterhub"  # the seed's `-n jupyterhub`
PROFILE = "jupyter-gateway"
HUB_PORT = 8081
PROXY_API_PORT = 8001
PROXY_PUBLIC_PORT = 80
PROXY_HTTP_PORT = 8000
SPAWN_TIMEOUT_S = 300.0  # z2jh's singleuser.startTimeout; a user pod starts in seconds here
READY_TIMEOUT_S = 180.0
# z2jh 3.2.1's readiness probes for the hub and the proxy (values.yaml hub.readinessProbe,
# proxy.chp.readinessProbe): once ready, a singleton is never taken out of its Service for being
# slow (z2jh#1732). With Kubernetes' default of 3 failures, a loaded CI machine once left `hub`
# with no endpoint and a user server's token check failed ("Failed to connect to Hub API").
SINGLETON_READINESS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 2,
    "timeoutSeconds": 1,
    "failureThreshold": 1000,
}
KUBECTL_TIMEOUT_S = 60.0
VALUES_MOUNT = "/usr/local/etc/jupyterhub/secret"

# The profile choice the hub scenarios spawn with: the driver-memory free text (KubeSpawner's
# unlisted_choice) as 1G. The seed's default choice, 1g, is a Spark size and no Kubernetes
# quantity: the user server sends KERNEL_MEMORY=1g with every kernel start, EG's kernel-pod
# template makes it the pod's memory request, and the API server refuses every python_kubernetes
# pod (400 "quantities must match the regular expression", seen on this cluster; the audit's
# kernel-value-grammar finding). 1G is a size Spark and Kubernetes both take. The seed's own
# choices stay in the spark section, where the kubernetes suite's profile-choice scenario fails
# naming the defect.
USER_OPTIONS = {"driver_memory--unlisted-choice": "1G"}
SEED_CHOICE_NOTE = (
    "hub scenarios spawn the jupyter-gateway profile with driver memory '1G' (its free-text "
    "choice): the seed's default '1g' makes the API server refuse every python_kubernetes kernel "
    "pod (memory request '1g' is no Kubernetes quantity); the profile-choice scenario keeps the "
    "seed's choices"
)

# What z2jh 3.2.1 would do with the seed's values that this install does not, and why.
DEVIATIONS = (
    "hub installed without z2jh 3.2.1's chart (on no registry reachable here; kubeVersion "
    ">=1.23 and policy/v1 PodDisruptionBudgets, the node cluster is v1.20.2): JupyterHub 4.0.2 "
    "+ KubeSpawner 6.2.0 as a Deployment, configurable-http-proxy 4.5.6 as its own Deployment, "
    "configured from the same values and extra config through the audit's z2jh mapping "
    "(--z2jh-chart installs the chart instead, when the user has it)",
    "no PVC per user (z2jh's default singleuser.storage.type dynamic): the node cluster has no "
    "storage provisioner; the home directory is the pod's own filesystem",
    "the hub's database is SQLite on an emptyDir (z2jh: a PVC)",
    "not run: the idle culler, z2jh's NetworkPolicies (the CNI bridge enforces none), the "
    "user scheduler, the image pullers (images are imported into containerd)",
)


def kubectl_argv(cluster: NodeCluster) -> list[str]:
    return [tools.argv0("kubectl"), "--kubeconfig", str(cluster.kubeconfig)]


# --- values -----------------------------------------------------------------------------------


def node_hub_overlay(*, api_token: str, gateway_token: str, singleuser_ref: str) -> Overlay:
    """What only this run knows, laid over the deployment's values, each key with its reason."""
    values, reasons, _put = hub_run_values(
        api_token=api_token,
        gateway_token=gateway_token,
        singleuser_ref=singleuser_ref,
        image_note="node: imported into containerd, there is no registry",
    )
    return Overlay("hub overlay (node)", values, reasons)


def merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def hub_values(overlay: Overlay, profile_dir: Path = PROFILE_DIR) -> dict:
    """The values z2jh would be given by the seed's command plus the overlay: values.yaml, then
    --set-file hub.extraConfig.jupyter_gateway_config.py=extra-config.py and --set-file
    hub.extraFiles.jupyter_gateway_form.stringData=profile-form.html, then the overlay."""
    values = yaml.safe_load((profile_dir / "values.yaml").read_text()) or {}
    set_files = {
        "hub": {
            "extraConfig": {
                "jupyter_gateway_config.py": (profile_dir / "extra-config.py").read_text()
            },
            "extraFiles": {
                "jupyter_gateway_form": {
                    "stringData": (profile_dir / "profile-form.html").read_text()
                }
            },
        }
    }
    return merged(merged(values, set_files), overlay.values)


# --- manifests --------------------------------------------------------------------------------


def _meta(name: str, component: str) -> dict:
    return {
        "name": name,
        "namespace": NAMESPACE,
        "labels": {"app": "jupyterhub", "component": component, "release": "jupyterhub"},
    }


def _selector(component: str) -> dict:
    return {"app": "jupyterhub", "component": component, "release": "jupyterhub"}


def hub_pages(values: dict, slug: str = PROFILE) -> dict[str, Any]:
    """The existing target's `hub.pages` from the deployment's own values: the spawn-form
    options the profile offers (its profile_options) and the one taking free text
    (unlisted_choice); the hub's dummy authenticator takes any password."""
    profiles = (values.get("singleuser") or {}).get("profileList") or []
    profile = next((p for p in profiles if p.get("slug") == slug), None)
    if profile is None:
        raise HarnessError(f"the hub's values have no profile {slug!r}: check values.yaml")
    options = profile.get("profile_options") or {}
    free = [n for n, o in options.items() if (o.get("unlisted_choice") or {}).get("enabled")]
    return {
        "login": "form",
        "form_options": {n: str(o.get("display_name") or n) for n, o in options.items()},
        "free_text_option": next(iter(free), None),
    }


def base_manifests(values: dict, proxy_token: str) -> list[dict]:
    """Namespace, the hub's account and z2jh's Role for KubeSpawner, the Secret, the Services."""
    files = (values.get("hub") or {}).get("extraFiles") or {}
    data = {"values.yaml": yaml.safe_dump(values, sort_keys=False), "proxy-token": proxy_token}
    for key, spec in files.items():
        data[f"extra-file-{key}"] = spec.get("stringData", "")
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("hub", "hub")},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta("hub", "hub"),
            # z2jh 3.2.1's hub Role (templates/hub/rbac.yaml)
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
                    "verbs": ["get", "watch", "list", "create", "delete"],
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta("hub", "hub"),
            "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": NAMESPACE}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta("hub", "hub"),
            "type": "Opaque",
            "stringData": data,
        },
        _service("hub", "hub", HUB_PORT, HUB_PORT),
        _service("proxy-api", "proxy", PROXY_API_PORT, PROXY_API_PORT),
        _service("proxy-public", "proxy", PROXY_PUBLIC_PORT, PROXY_HTTP_PORT),
    ]


def _service(name: str, component: str, port: int, target: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, component),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(component),
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def _deployment(component: str, pod_spec: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(component, component),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # z2jh: one hub (SQLite), one proxy
            "selector": {"matchLabels": _selector(component)},
            "template": {"metadata": {"labels": _selector(component)}, "spec": pod_spec},
        },
    }


def _secret_env(name: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "hub", "key": key}}}


def workload_manifests(values: dict, hub_ref: str, proxy_ref: str) -> list[dict]:
    hub = values.get("hub") or {}
    env = [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        _secret_env("CONFIGPROXY_AUTH_TOKEN", "proxy-token"),
    ]
    # z2jh: hub.extraEnv into the hub container (a literal value or a valueFrom)
    for name, value in (hub.get("extraEnv") or {}).items():
        env.append(
            {"name": name, **value} if isinstance(value, dict) else {"name": name, "value": value}
        )
    mounts = [
        {"name": "values", "mountPath": VALUES_MOUNT, "readOnly": True},
        {"name": "hub-data", "mountPath": "/srv/jupyterhub"},
    ]
    for key, spec in (hub.get("extraFiles") or {}).items():
        mounts.append(
            {
                "name": "files",
                "mountPath": spec["mountPath"],
                "subPath": f"extra-file-{key}",
                "readOnly": True,
            }
        )
    hub_pod = {
        "serviceAccountName": "hub",
        "securityContext": {"runAsUser": 1000, "runAsGroup": 100, "fsGroup": 100},
        "containers": [
            {
                "name": "hub",
                "image": hub_ref,
                "imagePullPolicy": "Never",
                "env": env,
                "ports": [{"name": "http", "containerPort": HUB_PORT}],
                "volumeMounts": mounts,
                "readinessProbe": {
                    "httpGet": {"path": "/hub/health", "port": "http"},
                    **SINGLETON_READINESS,
                },
            }
        ],
        "volumes": [
            {
                "name": "values",
                "secret": {
                    "secretName": "hub",
                    "items": [{"key": "values.yaml", "path": "values.yaml"}],
                },
            },
            {"name": "files", "secret": {"secretName": "hub"}},
            {"name": "hub-data", "emptyDir": {}},
        ],
    }
    proxy_pod = {
        "securityContext": {"runAsUser": 65534, "runAsGroup": 65534},
        "containers": [
            {
                "name": "chp",
                "image": proxy_ref,
                "imagePullPolicy": "Never",
                # z2jh 3.2.1's proxy command (templates/proxy/deployment.yaml)
                "args": [
                    "--ip=",
                    "--api-ip=",
                    f"--api-port={PROXY_API_PORT}",
                    f"--default-target=http://hub:{HUB_PORT}",
                    f"--error-target=http://hub:{HUB_PORT}/hub/error",
                    f"--port={PROXY_HTTP_PORT}",
                ],
                "env": [_secret_env("CONFIGPROXY_AUTH_TOKEN", "proxy-token")],
                "ports": [
                    {"name": "http", "containerPort": PROXY_HTTP_PORT},
                    {"name": "api", "containerPort": PROXY_API_PORT},
                ],
                "readinessProbe": {
                    "httpGet": {"path": "/_chp_healthz", "port": "http"},
                    **SINGLETON_READINESS,
                },
            }
        ],
    }
    return [_deployment("proxy", proxy_pod), _deployment("hub", hub_pod)]


# --- install ----------------------------------------------------------------------------------


def _apply(kubectl: Sequence[str], docs: list[dict], what: str) -> None:
    """kubectl apply from stdin (the Secret's tokens never reach an argv)."""
    text = yaml.safe_dump_all(docs, sort_keys=False)
    try:
        proc = subprocess.run(
            [*kubectl, "apply", "-f", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_S,
        )
    except OSError as exc:
        raise TargetUnavailable(f"{what}: kubectl cannot run ({exc.strerror})") from None
    if proc.returncode != 0:
        raise TargetUnavailable(
            secrets.redact(f"{what}: kubectl apply failed: {proc.stderr.strip()[-500:]}")
        )


def service_ip(kubectl: Sequence[str], service: str) -> str:
    doc = json.loads(
        install.run(
            [*kubectl, "get", "service", service, "--namespace", NAMESPACE, "-o", "json"],
            KUBECTL_TIMEOUT_S,
            f"reading service {NAMESPACE}/{service}",
        )
    )
    ip = (doc.get("spec") or {}).get("clusterIP")
    if not ip:
        raise TargetUnavailable(f"service {NAMESPACE}/{service} has no ClusterIP")
    return ip


def hub_images(
    cluster: NodeCluster, progress: Progress, names: Sequence[str] = NAMES
) -> dict[str, Image]:
    """Built (or cached) and imported into the cluster's containerd unless it has them."""
    built = build_hub_images(progress, tuple(names))
    for image in built.values():
        if not cluster.has_image(image.ref):
            cluster.import_image(export_image(image, progress))
    return built


def install_hub(
    cluster: NodeCluster,
    gateway_token: str,
    progress: Progress = print,
    *,
    work: Path | None = None,
    diagnostics_dir: Path | None = None,
    figures: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Build and import the hub's images, install the hub and its proxy, wait until the hub
    answers its service token from the host. Returns the existing target's `hub:` section
    (url, api_token, profile, spawn_timeout) plus `hub_namespace`, `images`, `notes`. On a
    failure, the hub namespace's report (pods, events, logs) is written to `diagnostics_dir`
    and named in the error."""
    figures = figures if figures is not None else {}
    t0 = time.monotonic()
    images = hub_images(cluster, progress)
    figures["hub_images_s"] = round(time.monotonic() - t0, 1)
    api_token = secrets.new_token()
    proxy_token = secrets.new_token()
    overlay = node_hub_overlay(
        api_token=api_token, gateway_token=gateway_token, singleuser_ref=images["singleuser"].ref
    )
    values = hub_values(overlay)
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        fd = os.open(work / "hub-overlay.yaml", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(overlay.render())
    kubectl = kubectl_argv(cluster)
    t1 = time.monotonic()
    try:
        progress(f"installing the hub in namespace {NAMESPACE} (JupyterHub + KubeSpawner, proxy)")
        _apply(kubectl, base_manifests(values, proxy_token), "the hub's account, Secret, Services")
        ips = {s: service_ip(kubectl, s) for s in ("hub", "proxy-api", "proxy-public")}
        for service, ip in ips.items():
            cluster.set_dns(f"{service}.{NAMESPACE}.svc.cluster.local", ip)
        # The proxy first: a hub that starts before its proxy's API answers exits and is
        # restarted by the kubelet (z2jh lives with that restart; waiting costs nothing here).
        workloads = workload_manifests(values, images["hub"].ref, images["proxy"].ref)
        for name, doc in zip(("proxy", "hub"), workloads, strict=True):
            _apply(kubectl, [doc], f"the {name} Deployment")
            install.run(
                [
                    *kubectl,
                    "rollout",
                    "status",
                    f"deployment/{name}",
                    "--namespace",
                    NAMESPACE,
                    f"--timeout={int(READY_TIMEOUT_S)}s",
                ],
                READY_TIMEOUT_S + 10,
                f"the {name} Deployment becoming available",
            )
        url = f"http://{ips['proxy-public']}:{PROXY_PUBLIC_PORT}"
        wait_answers(url, api_token, progress)
    except HarnessError as exc:
        where = namespace_report(cluster, diagnostics_dir or work, progress)
        raise TargetUnavailable(f"{exc}{where}") from None
    figures["hub_install_s"] = round(time.monotonic() - t1, 1)
    return {
        "hub": {
            "url": url,
            "api_token": api_token,
            "profile": PROFILE,
            "user_options": dict(USER_OPTIONS),
            "spawn_timeout": SPAWN_TIMEOUT_S,
            "pages": hub_pages(values),
        },
        "hub_namespace": NAMESPACE,
        "images": {name: image.ref for name, image in images.items()},
        "notes": [*DEVIATIONS, SEED_CHOICE_NOTE],
    }


def wait_answers(url: str, token: str, progress: Progress) -> None:
    progress(f"waiting for the hub at {url} (proxy-public's ClusterIP, routed by kube-proxy)")

    def answers() -> bool:
        try:
            resp = httpx.get(
                f"{url}/hub/api/users", headers={"Authorization": f"token {token}"}, timeout=5
            )
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    try:
        wait_for(f"the hub at {url}/hub/api", answers, READY_TIMEOUT_S, max_interval=1)
    except WaitTimeout as exc:
        raise TargetUnavailable(
            f"the hub was installed but does not answer its service token at {url} ({exc})"
        ) from None


def namespace_report(cluster: NodeCluster, dest: Path | None, progress: Progress) -> str:
    """The hub namespace's pods, events and logs, for a failed install; names where."""
    if dest is None:
        return ""
    out = dest / "hub"
    progress(f"collecting the hub namespace's report into {out}")
    try:
        diagnostics.write_namespace_report(out, kubectl_argv(cluster), [], [NAMESPACE], {}, 30)
    except (OSError, HarnessError) as exc:
        return f" (the namespace report failed too: {exc})"
    return f"; pods, events and logs of namespace {NAMESPACE}: {out}"
