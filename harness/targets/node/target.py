"""The node target: a real single-node Kubernetes on this machine, EG installed by its chart.

For machines without Docker (kind cannot run there): Kubernetes v1.20.2 built from Debian's
source package, containerd, a CNI bridge, kube-proxy and dnsmasq (cluster.py); images built
with podman on an mmdebstrap base and imported into containerd (images.py); EG installed from
its sdist's chart by the seed's own helm command plus this provider's values
(clusters/node/enterprise-gateway-values.yaml, install.py). provision() = preflight ->
binaries -> cluster up -> EG sdist -> images -> helm -> the service name in the node's DNS ->
EG reachable from the host. Each step is a phase of the span `target_provision`, so bring-up
figures come from every run.

The harness reaches EG at its ClusterIP from the host: kube-proxy's iptables rules route
ClusterIPs from the host as from pods, so there is no port-forward process to supervise (and
none of `kubectl port-forward`'s one-stream-per-connection relaying under WebSocket load), and
the harness uses the very address the seed's user pods resolve the service name to.

Described with the existing target's model (apply_config), like kind, so scenarios see the
same kind of target, with Kubernetes access for the pod checks. Teardown is the cluster's:
the whole cluster goes, so no helm uninstall first.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
from eg_harness.audit import tools as audit_tools
from eg_harness.errors import ConfigError, HarnessError, TargetUnavailable
from eg_harness.runtime import secrets
from eg_harness.runtime.envs import cache_dir
from eg_harness.runtime.timing import Span, recorder
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets import faults as fault_catalogue
from eg_harness.targets.abilities import (
    ClusterAccess,
    KeptDeployment,
    KubernetesCluster,
    UnpullableImage,
)
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import KubernetesAccess
from eg_harness.targets.existing.config import ExistingTargetConfig
from eg_harness.targets.existing.target import apply_config
from eg_harness.targets.kind import diagnostics, tools
from eg_harness.targets.kind.egdist import EgDist, ensure_eg_dist
from eg_harness.targets.kind.images import Image
from eg_harness.targets.kind.pins import load_pins as load_kind_pins
from eg_harness.targets.node import hub as node_hub
from eg_harness.targets.node import hubchart, install, k8sbuild, kept, preflight, seeded
from eg_harness.targets.node import spark as node_spark
from eg_harness.targets.node.cluster import NodeCluster
from eg_harness.targets.node.images import build_node_images, export_image
from eg_harness.targets.node.livefaults import LiveFaults
from eg_harness.targets.node.pins import load_pins
from eg_harness.targets.node.values import NODE_EG_VALUES, gateway_overlay, write_overlay
from eg_harness.targets.node.z2jhchart import Chart, read_chart

IMAGES = ["enterprise-gateway", "kernel-py", "kernelspecs"]
# Only read when the hub is not (yet) installed: hub.install_hub runs in every bring-up.
NO_HUB = "the node target's hub is not installed (bring-up did not reach it)"
LAUNCH_TIMEOUT = 90.0  # a kernel pod starts in about 2 s here; the bound, not the figure
HELM_TIMEOUT = 300
GATEWAY_ANSWERS_S = 60.0


def kubernetes_version_note(pins=None) -> str:
    """What every report says about the Kubernetes under test: it is old, and why it is used."""
    pins = pins or load_pins()
    k = pins.kubernetes
    return (
        f"{k['git_version']} (Debian {pins.debian_version.split('-')[0]}, out of upstream "
        f"support since {k['upstream_end_of_life'][:4]}; the newest any registry here offers)"
    )


def target_config(
    gateway_url: str,
    token: str,
    kubeconfig: Path,
    launch_timeout: float = LAUNCH_TIMEOUT,
    exiting_image: str | None = None,
    hub: dict | None = None,
    hub_namespace: str | None = None,
    spark: dict | None = None,
) -> ExistingTargetConfig:
    """The installed deployment in the existing target's model (what scenarios are given)."""
    return ExistingTargetConfig.model_validate(
        {
            "gateway": {
                "url": gateway_url,
                "auth_token": token,
                "kernelspec": "python_kubernetes",
                "launch_timeout": launch_timeout,
                # The chart leaves EG_LIST_KERNELS unset (EG's default False) and the node
                # values do not set it: the suites expect what the deployment really does.
                "list_kernels": False,
            },
            "kubernetes": {
                "kubeconfig": str(kubeconfig),
                "namespace": install.NAMESPACE,
                "gateway_service": install.SERVICE,
                # Where KubeSpawner runs the user pods (hub.install_hub).
                "hub_namespace": hub_namespace,
                # EG makes a namespace per kernel (kernel.shareGatewayNamespace false, as seeded).
                "shared_namespace": False,
                # The CNI bridge plugin enforces no NetworkPolicy: the outsider probe says
                # "not enforced here" and skips, never passes.
                "network_policy_enforced": False,
                # The kernelspecs image: on the node, its command (`ls -R /kernels`) exits at
                # once, a kernel pod that dies before its kernel reports.
                "exiting_image": exiting_image,
            },
            # The seed's hub (JupyterHub + KubeSpawner, hub.py) and Spark (spark.py).
            "hub": hub,
            "spark": spark,
            # The cluster exists for this run only, or for the runs of one `eg-harness up
            # --target node`: a disposable cluster either way.
            "allow_destructive": True,
            "unauthorized_users": ["root"],
        }
    )


class NodeTarget(Target, ClusterAccess, UnpullableImage, KeptDeployment):
    """Always has a cluster, so it inherits ClusterAccess (the kubernetes suite asks before
    provisioning); the access itself exists once the cluster does. KeptDeployment: `eg-harness
    up --target node` keeps the cluster (kept.py) and a run finding it attaches instead of
    bringing one up, seeding its faults on the live install (livefaults.py)."""

    # Spark (spark.py): the gateway image with Spark, the driver image, the kernelspec allowed,
    # the spark: section. A subclass that installs another EG release may do without.
    with_spark = True

    kind = "node"
    no_hub_reason = NO_HUB

    def __init__(
        self,
        *,
        run_id: str | None = None,
        faults: list[str] | None = None,
        allow_destructive: bool | None = None,
        z2jh_chart: str | None = None,
        **_,
    ) -> None:
        """`z2jh_chart` (--z2jh-chart): the hub from z2jh 3.2.1's chart instead of hub.py's
        Deployment; checked here, so a bad path fails before anything is built."""
        super().__init__(run_id)
        self.z2jh_chart: Chart | None = read_chart(z2jh_chart) if z2jh_chart else None
        self.pins = load_pins()
        self.allow_destructive = allow_destructive
        self._faults = fault_catalogue.resolve(faults or [], target="node")
        self.faults = [f.name for f in self._faults]
        self.notes.extend(f"seeded fault {f.name}: {f.description}" for f in self._faults)
        self.work = cache_dir() / "node" / "work" / self.run_id
        self.cluster: NodeCluster | None = None  # the cluster this target brought up
        self.kubeconfig: Path | None = None  # its admin kubeconfig, or the kept cluster's
        self._kept: dict | None = None  # the kept cluster's record, when attached to one
        self._kept_lock = None
        self._live: LiveFaults | None = None
        self._eg: EgDist | None = None
        self._driver_ref: str | None = None
        self.figures: dict[str, float] = {}
        self.step_seconds: dict[str, float] = {}  # bring-up, step by step
        self._helm: str | None = None
        self._versions: dict[str, str] = {"kubernetes": kubernetes_version_note(self.pins)}
        self._reported = False

    # -- abilities -----------------------------------------------------------------------
    def _access(self) -> KubernetesCluster:
        found = next((a for a in self.offered if isinstance(a, KubernetesCluster)), None)
        if found is None:
            raise TargetUnavailable("the node cluster is not provisioned yet")
        return found

    def kubernetes(self) -> KubernetesAccess:
        return self._access().kubernetes()

    def unpullable_image(self) -> tuple[str | None, dict[str, str], str]:
        return self._access().unpullable_image()

    # -- provisioning --------------------------------------------------------------------
    def provision(self, progress=print) -> None:
        span = Span("target_provision", {"target": "node", "stack": self.run_id}, test="(session)")
        span.mark("requested")
        try:
            self._provision(span, progress)
        except BaseException as exc:
            recorder.record(span.finish(False, secrets.redact(str(exc))[:300]))
            if isinstance(exc, HarnessError):
                self._namespace_report(progress)
            raise
        recorder.record(span.finish(True))
        self.figures["bring_up_s"] = span.total or 0.0
        marks = list(span.phases.items())
        self.step_seconds = {
            name: round(t - marks[i - 1][1], 1) for i, (name, t) in enumerate(marks) if i
        }
        progress(f"node target up in {span.total:.1f}s")

    def _provision(self, span: Span, progress) -> None:
        doc = kept.find()
        if doc is not None:
            self._attach_kept(doc, span, progress)
            return
        host = preflight.require(progress)
        # The host's kernel and cgroup version; the packages are named by the cluster below.
        self._versions.update(
            {f"{k} (host)": str(v) for k, v in (host or {}).items() if k in ("kernel", "cgroups")}
        )
        span.mark("preflight")
        k8sbuild.ensure_binaries(progress)
        span.mark("binaries")
        self.work.mkdir(parents=True, exist_ok=True)
        self.cluster = NodeCluster(self.run_id, self.work / "cluster", progress=progress)
        self.cluster.up()
        self.kubeconfig = self.cluster.kubeconfig
        span.mark("cluster_up")
        # The cluster's own line for Kubernetes (package, release date, support end, age).
        self._versions.update({k: str(v) for k, v in self.cluster.versions().items()})
        eg = self._eg = self.eg_dist(progress)
        span.mark("eg_sdist")
        refs = self._images(eg, progress)
        span.mark("images")
        token = secrets.new_token()
        url = self._install(eg, refs, token, progress)
        span.mark("helm_installed")
        self._wait_answers(url, token, progress)
        span.mark("gateway_ready")
        hub = self._install_hub(token, progress)
        span.mark("hub_ready")
        # A seeded fault in the hub's profile (targets/faults.py hub_profile_unsets), as an
        # operator's values would have it; the cluster goes at teardown, so no undo.
        seeded.seed_hub(
            self.kubectl(), self._faults, node_hub.NAMESPACE, node_hub.PROFILE, progress=progress
        )
        self.notes.extend(hub["notes"])
        self._versions["jupyterhub"] = (
            hubchart.versions_line(self.z2jh_chart) if self.z2jh_chart else node_hub.HUB_VERSIONS
        )
        self._versions.update({f"{n} image": r for n, r in hub["images"].items()})
        config = target_config(
            url,
            token,
            self.cluster.kubeconfig,
            exiting_image=refs["kernelspecs"],
            hub=hub["hub"],
            hub_namespace=hub["hub_namespace"],
            spark=node_spark.spark_config() if self.with_spark else None,
        )
        apply_config(self, config, self.allow_destructive)
        self._versions["enterprise_gateway chart"] = eg.version
        self._versions["enterprise_gateway image"] = refs["enterprise-gateway"]
        self._versions["kernelspecs image"] = refs["kernelspecs"]
        if self._driver_ref:
            self._versions["spark driver image"] = self._driver_ref

    def _install_hub(self, token: str, progress) -> dict:
        """The seed's hub: from z2jh's chart when the user passed it, else hub.py's Deployment
        configured from the same values (the report says which, and what deviates)."""
        assert self.cluster is not None
        diagnostics_dir = (self.diagnostics_dir or self.work / "diagnostics") / "node"
        if self.z2jh_chart is not None:
            return hubchart.install_hub_chart(
                self.cluster,
                token,
                self.z2jh_chart,
                self.helm(progress)[0],
                progress,
                work=self.work,
                diagnostics_dir=diagnostics_dir,
                figures=self.figures,
            )
        return node_hub.install_hub(
            self.cluster,
            token,
            progress,
            work=self.work,
            diagnostics_dir=diagnostics_dir,
            figures=self.figures,
        )

    def _attach_kept(self, doc: dict, span: Span, progress) -> None:
        """The kept cluster's endpoints and access, as a parallel run's worker gets them; this
        run's faults applied to the live install (undone at teardown)."""
        chart = str(self.z2jh_chart.source) if self.z2jh_chart else None
        if chart != doc.get("z2jh_chart"):
            kept_hub = doc.get("z2jh_chart") or "hub.py's Deployment, no chart"
            raise ConfigError(
                f"the kept node cluster (run {doc['run_id']}) has its hub from {kept_hub}; "
                f"this run asks for {chart or 'no --z2jh-chart'}: pass the same --z2jh-chart, "
                "or `eg-harness down` first"
            )
        self._kept_lock = kept.hold(self.run_id, alone=bool(self._faults))
        own = (self.run_id, list(self.notes), list(self.faults))
        self.attach(doc["handoff"])
        self.run_id, notes, self.faults = own
        self._kept = doc
        self.kubeconfig = Path(doc["handoff"]["kubeconfig"])
        self._driver_ref = doc.get("driver_ref")
        self.notes = [
            *notes,
            *self.notes,
            f"attached to the node cluster kept by `eg-harness up --target node` (run "
            f"{doc['run_id']}): no bring-up or teardown in this run"
            + ("; its seeded faults applied to the live install and reverted" if notes else ""),
        ]
        progress(f"attaching to the kept node cluster of run {doc['run_id']}")
        span.mark("attached")
        if self._faults:
            self._live = LiveFaults(
                self._faults,
                self.kubectl(),
                self.helm(progress),
                progress,
                hub_namespace=node_hub.NAMESPACE,
                hub_profile=node_hub.PROFILE,
            )
            self._live.apply(
                Path(doc["chart_dir"]),
                lambda: self._kernelspecs_image(self._plain_kernelspecs(progress), progress),
                self._import,
            )
            span.mark("faults_applied")
        assert self.gateway is not None
        self._wait_answers(self.gateway.url, self.gateway.token or "", progress)
        span.mark("gateway_ready")

    def keep(self) -> Path:
        if self._kept is not None:
            raise TargetUnavailable(
                f"a node cluster is kept already (run {self._kept['run_id']}): use it, or "
                "`eg-harness down` first"
            )
        if self.cluster is None or self._eg is None or self.gateway is None:
            raise TargetUnavailable("no node cluster to keep: provision it first")
        if self._faults:
            raise ConfigError(
                "a kept node cluster is kept without seeded faults (each run on it seeds its "
                "own with --local-fault): drop --local-fault from `eg-harness up`"
            )
        return kept.write(
            {
                "run_id": self.run_id,
                "state_dir": str(self.cluster.lay.root),
                "chart_dir": str(self._eg.chart_dir),
                "driver_ref": self._driver_ref,
                "z2jh_chart": str(self.z2jh_chart.source) if self.z2jh_chart else None,
                "handoff": self.handoff(),
            }
        )

    def eg_dist(self, progress=print) -> EgDist:
        """The EG release installed: the kind pins' sdist. The upgrade's node target installs
        another release first (eg_harness.targets.node.upgrade overrides this)."""
        return ensure_eg_dist(progress, load_kind_pins())

    def _images(self, eg: EgDist, progress) -> dict[str, str]:
        """Built (or cached) by content, imported into containerd unless it has them: the
        gateway image (with Spark, for spark-submit in cluster mode from the EG pod), the
        python kernel image, Spark's driver image, and the kernelspecs naming that driver."""
        assert self.cluster is not None
        built = {i.name: i for i in build_node_images(IMAGES, eg, progress)}
        gateway = built["enterprise-gateway"]
        if self.with_spark:
            spark = node_spark.spark_images(self.cluster, eg, progress)
            self._driver_ref = spark["kernel-spark-py"].ref
            gateway = spark["enterprise-gateway-spark"]
        kernelspecs = self._kernelspecs_image(built["kernelspecs"], progress)
        for image in (gateway, built["kernel-py"], kernelspecs):
            self._import(image, progress)
        return {"enterprise-gateway": gateway.ref, "kernelspecs": kernelspecs.ref}

    def _kernelspecs_image(self, plain: Image, progress) -> Image:
        """The seed's <KERNEL SPEC IMAGE>: this run's seeded faults in its pod templates, and
        spark_python_kubernetes naming the driver image."""
        faulty = seeded.faulty_kernelspecs(plain, self._faults, progress)
        if self._driver_ref is None:
            return faulty
        return node_spark.kernelspecs_with_spark(faulty, self._driver_ref, progress)

    def _plain_kernelspecs(self, progress) -> Image:
        eg = self._eg = self._eg or self.eg_dist(progress)
        return build_node_images(["kernelspecs"], eg, progress)[0]

    def _containerd(self) -> NodeCluster:
        """The cluster's containerd: this run's cluster, or the kept one's (a view of its state
        dir: images only, never brought up or down from here)."""
        if self.cluster is not None:
            return self.cluster
        assert self._kept is not None
        return NodeCluster(self._kept["run_id"], Path(self._kept["state_dir"]))

    def _import(self, image: Image, progress=print) -> None:
        node = self._containerd()
        if not node.has_image(image.ref):
            node.import_image(export_image(image, progress))

    def kubectl(self) -> list[str]:
        assert self.kubeconfig is not None
        return [tools.argv0("kubectl"), "--kubeconfig", str(self.kubeconfig)]

    def helm(self, progress=print) -> list[str]:
        if self._helm is None:
            self._helm = audit_tools.find_helm(audit_tools.tool_env(progress), progress).path
        assert self.kubeconfig is not None
        return [self._helm, "--kubeconfig", str(self.kubeconfig)]

    def _install(self, eg: EgDist, refs: dict[str, str], token: str, progress) -> str:
        assert self.cluster is not None
        overlay = write_overlay(
            gateway_overlay(gateway_ref=refs["enterprise-gateway"]),
            self.work / "enterprise-gateway-overlay.yaml",
        )
        values = [NODE_EG_VALUES, overlay]
        if self.with_spark:
            values.append(
                write_overlay(node_spark.spark_overlay(), self.work / "spark-overlay.yaml")
            )
        helm = self.helm(progress)[0]
        argv = install.helm_argv(
            helm,
            self.cluster.kubeconfig,
            eg.chart_dir,
            token=token,
            kernelspecs_ref=refs["kernelspecs"],
            values=values,
            timeout_s=HELM_TIMEOUT,
        )
        progress(f"installing EG {eg.version} with its chart: " + secrets.redact(" ".join(argv)))
        t0 = time.monotonic()
        install.run(argv, HELM_TIMEOUT + 60, f"helm install of {install.RELEASE}")
        self.figures["helm_install_s"] = time.monotonic() - t0
        kubectl = self.kubectl()
        revokes = [r for f in self._faults for r in f.gateway_role_revokes]
        if revokes:
            progress(f"seeded fault: taking {', '.join(revokes)} from {install.GATEWAY_ROLE}")
            seeded.revoke_rights(kubectl, revokes, 30)
        ip, port = install.cluster_ip(kubectl, 30)
        self.cluster.set_dns(install.SERVICE_DNS, ip)
        return f"http://{ip}:{port}"

    def _wait_answers(self, url: str, token: str, progress) -> None:
        """EG answers at its ClusterIP from the host (kube-proxy's rules are in place)."""
        progress(f"waiting for EG at {url} (its ClusterIP, routed by kube-proxy)")

        def answers() -> bool:
            resp = httpx.get(f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=5)
            if resp.status_code == 200:
                self._versions["enterprise_gateway"] = str(resp.json().get("gateway_version"))
                return True
            return False

        try:
            wait_for(f"EG at {url}/api", answers, GATEWAY_ANSWERS_S, max_interval=1)
        except WaitTimeout as exc:
            raise TargetUnavailable(
                f"EG was installed but does not answer at {url} from the host ({exc}): see the "
                "namespace report in the run's diagnostics/node"
            ) from None

    # -- evidence and teardown -----------------------------------------------------------
    def _namespace_report(self, progress=print, again: bool = False) -> list[Path]:
        """Pods, events, describes, logs and helm status, if there is a cluster to ask. Taken
        once on a failed bring-up; `again` (asked for mid-run, and at teardown) writes it anew,
        so the report left behind covers the whole run, not the moment of the first ask."""
        if self.kubeconfig is None or not Path(self.kubeconfig).exists():
            return []
        if self._reported and not again:
            return []
        self._reported = True
        dest = (self.diagnostics_dir or self.work / "diagnostics") / "node"
        progress(f"collecting the namespace report into {dest}")
        try:
            helm = self.helm(lambda _m: None)
        except HarnessError:
            helm = [tools.argv0("helm")]
        return diagnostics.write_namespace_report(
            dest,
            self.kubectl(),
            helm,
            [install.NAMESPACE, node_hub.NAMESPACE],
            {install.RELEASE: install.NAMESPACE},
            30,
        )

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        self.diagnostics_dir = dest
        return self._namespace_report(lambda _m: None, again=True)

    def teardown(self) -> dict[str, list[str]]:
        if self._kept is not None:
            return self._detach()
        if self.cluster is None:
            return {}
        kept.forget(self.run_id)
        if self.diagnostics_dir is not None:
            self._namespace_report(lambda _m: None, again=True)
        t0 = time.monotonic()
        left = self.cluster.down()
        self.figures["teardown_s"] = time.monotonic() - t0
        span = Span("target_teardown", {"target": "node", "stack": self.run_id}, test="(session)")
        span.phases["down"] = round(self.figures["teardown_s"], 6)
        recorder.record(span.finish(not left, "; ".join(left)[:300] or None))
        if not left:
            shutil.rmtree(self.work, ignore_errors=True)
        return {"node": list(left)}

    def _detach(self) -> dict[str, list[str]]:
        """The end of a run on a kept cluster: its faults undone, the cluster left running."""
        if self.diagnostics_dir is not None:
            self._namespace_report(lambda _m: None, again=True)
        left: list[str] = []
        t0 = time.monotonic()
        if self._live is not None:
            left = self._live.undo()
            self.figures["faults_reverted_s"] = time.monotonic() - t0
        fh, self._kept_lock = self._kept_lock, None
        if fh is not None:
            fh.close()
        shutil.rmtree(self.work, ignore_errors=True)
        return {"node": left}

    def versions(self) -> dict[str, str]:
        return dict(self._versions)

    # -- parallel runs -------------------------------------------------------------------
    def handoff(self) -> dict:
        out = super().handoff()
        out["kubeconfig"] = str(self.kubeconfig) if self.kubeconfig else None
        out["exiting_image"] = self._versions.get("kernelspecs image")
        out["hub_namespace"] = node_hub.NAMESPACE if self.hub is not None else None
        return out

    def attach(self, handoff: dict) -> None:
        """A worker's view: the controller's endpoints and its cluster's kubeconfig."""
        super().attach(handoff)
        self._versions.update(handoff["versions"])
        if handoff.get("kubeconfig") and self.gateway is not None:
            config = target_config(
                self.gateway.url,
                self.gateway.token or "",
                Path(handoff["kubeconfig"]),
                self.gateway.launch_timeout,
                handoff.get("exiting_image"),
                hub_namespace=handoff.get("hub_namespace"),
            )
            self.offered = [a for a in self.offered if not isinstance(a, KubernetesCluster)]
            access = config.kubernetes.model_dump() if config.kubernetes else {}
            self.offered.append(KubernetesCluster(KubernetesAccess(**access)))
