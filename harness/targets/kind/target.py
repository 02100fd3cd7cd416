"""The kind target: a kind cluster with EG's chart and z2jh, built and installed per run.

provision() = preflight (before anything exists) -> the pinned EG sdist -> image contexts and
their content tags -> a plan (plan.py) -> the executor runs it, pushing undos. When the plan
has run, the deployment is described with the existing target's configuration model, so the
same scenarios see the same kind of target, with Kubernetes access for the pod checks.
On a failure or timeout the namespace report goes into diagnostics/ before anything is undone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from eg_harness.errors import HarnessError, TargetUnavailable
from eg_harness.runtime import secrets
from eg_harness.runtime.envs import cache_dir
from eg_harness.runtime.ports import free_port
from eg_harness.targets.abilities import ClusterAccess, KubernetesCluster, UnpullableImage
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import KubernetesAccess
from eg_harness.targets.existing.config import ExistingTargetConfig
from eg_harness.targets.existing.target import apply_config
from eg_harness.targets.kind import diagnostics, preflight, state, tools
from eg_harness.targets.kind.egdist import ensure_eg_dist
from eg_harness.targets.kind.executor import Executor
from eg_harness.targets.kind.images import stage_all
from eg_harness.targets.kind.pins import EG_VALUES, Pins, cluster_name_for, load_pins
from eg_harness.targets.kind.plan import KindSettings, Plan, build_plan


def make_plan(
    run_id: str,
    *,
    kind_cluster: str | None = None,
    keep_cluster: bool = False,
    progress=print,
    pins: Pins | None = None,
) -> Plan:
    """Everything the run will do, decided up front (fresh tokens, free ports, image tags)."""
    pins = pins or load_pins()
    eg = ensure_eg_dist(progress, pins)
    contexts = cache_dir() / "kind" / "contexts"
    contexts.mkdir(parents=True, exist_ok=True)
    images = stage_all(eg, contexts)
    settings = KindSettings(
        run_id=run_id,
        run_dir=cache_dir() / "kind" / "work" / run_id,
        cluster=kind_cluster or cluster_name_for(run_id),
        reuse=kind_cluster is not None,
        keep=keep_cluster,
        gateway_token=secrets.new_token(),
        hub_token=secrets.new_token(),
        gateway_host_port=free_port(),
        hub_host_port=free_port(),
    )
    return build_plan(pins, settings, images, eg.chart_dir)


def target_config(plan: Plan, pins: Pins) -> ExistingTargetConfig:
    """The installed deployment in the existing target's model (what scenarios are given)."""
    s = plan.settings
    base = yaml.safe_load(EG_VALUES.read_text()) or {}
    extra_env = ((base.get("deployment") or {}).get("extraEnv")) or {}
    spark = pins.raw["spark"]
    return ExistingTargetConfig.model_validate(
        {
            "gateway": {
                "url": plan.gateway_url,
                "auth_token": s.gateway_token,
                **pins.raw["gateway"],
                # The chart leaves EG_LIST_KERNELS unset (EG's default False) unless the values
                # file sets it; the suites must expect what the deployment really does.
                "list_kernels": str(extra_env.get("EG_LIST_KERNELS", "False")).lower() == "true",
            },
            "hub": {"url": plan.hub_url, "api_token": s.hub_token, **pins.raw["hub"]},
            "spark": {**spark, "local_mode": False},
            # The one Kubernetes access path (ClusterAccess, UnpullableImage). EG starts each
            # kernel in its own namespace (kernel.shareGatewayNamespace is false in the chart
            # and the seed); kernel pods are looked up in every namespace.
            "kubernetes": {
                "kubeconfig": str(s.kubeconfig),
                "context": s.context,
                "namespace": pins.eg["namespace"],
                "gateway_service": pins.eg["service"],
                "hub_namespace": pins.hub["namespace"],
                "shared_namespace": False,
                # kindnet enforces NetworkPolicy (kind >= v0.24); the plan adds the egress rule
                # that lets user pods reach the gateway.
                "network_policy_enforced": True,
            },
            # The cluster exists for this run only (or is the user's throw-away kind cluster).
            "allow_destructive": True,
            "unauthorized_users": ["root"],
        }
    )


class KindTarget(Target, ClusterAccess, UnpullableImage):
    """Always has a cluster, so it inherits ClusterAccess: the kubernetes suite can ask before
    provisioning; the access itself exists once the cluster does."""

    kind = "kind"

    def __init__(
        self,
        *,
        run_id: str | None = None,
        kind_cluster: str | None = None,
        keep_cluster: bool = False,
        allow_destructive: bool | None = None,
        **_,
    ) -> None:
        super().__init__(run_id)
        self.pins = load_pins()
        self.kind_cluster = kind_cluster
        self.keep_cluster = keep_cluster
        self.allow_destructive = allow_destructive
        self.plan: Plan | None = None
        self.executor: Executor | None = None
        self._versions: dict[str, str] = {}
        self._reported = False  # the namespace report is taken once, at the first failure

    def _cluster(self) -> KubernetesCluster:
        found = next((a for a in self.offered if isinstance(a, KubernetesCluster)), None)
        if found is None:
            raise TargetUnavailable("the kind cluster is not provisioned yet")
        return found

    def kubernetes(self) -> KubernetesAccess:
        return self._cluster().kubernetes()

    def unpullable_image(self) -> tuple[str | None, dict[str, str], str]:
        return self._cluster().unpullable_image()

    def provision(self, progress=print) -> None:
        versions = preflight.require(
            self.pins, reuse_cluster=self.kind_cluster is not None, progress=progress
        )
        self._versions.update({f"{k} (tool)": v for k, v in versions.items()})
        self.plan = make_plan(
            self.run_id,
            kind_cluster=self.kind_cluster,
            keep_cluster=self.keep_cluster,
            progress=progress,
            pins=self.pins,
        )
        s = self.plan.settings
        self.notes += self.plan.notes
        state.record(self.run_id, s.cluster, not s.reuse, s.keep, s.kubeconfig)
        self.executor = Executor(self.plan, progress)
        try:
            self.executor.run()
        except HarnessError:
            self._namespace_report(progress)
            raise
        apply_config(self, target_config(self.plan, self.pins), self.allow_destructive)
        self._versions["enterprise_gateway chart"] = self.pins.eg["version"]
        self._versions["z2jh chart"] = self.pins.hub["version"]
        self._versions["kind node image"] = self.pins.node_image

    def _kube_base(self) -> tuple[list[str], list[str]]:
        assert self.plan is not None
        s = self.plan.settings
        kubectl = [
            tools.argv0("kubectl"),
            "--kubeconfig",
            str(s.kubeconfig),
            "--context",
            s.context,
        ]
        helm = [tools.argv0("helm"), "--kubeconfig", str(s.kubeconfig), "--kube-context", s.context]
        return kubectl, helm

    def _namespace_report(self, progress=print) -> list[Path]:
        """Pods, events, describes, logs and helm status, if there is a cluster to ask."""
        if self._reported or self.plan is None or not self.plan.settings.kubeconfig.exists():
            return []
        self._reported = True
        dest = (self.diagnostics_dir or self.plan.settings.run_dir / "diagnostics") / "kind"
        progress(f"collecting the namespace report into {dest}")
        kubectl, helm = self._kube_base()
        return diagnostics.write_namespace_report(
            dest,
            kubectl,
            helm,
            self.plan.namespaces,
            self.plan.releases,
            self.pins.timeout("diagnostics_command"),
        )

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        self.diagnostics_dir = dest
        return self._namespace_report(lambda _m: None)

    def teardown(self) -> dict[str, list[str]]:
        if self.executor is None or self.plan is None:
            return {}
        if self.diagnostics_dir is not None:
            self._namespace_report(lambda _m: None)
        left = self.executor.undo_all()
        if not left:
            state.forget(self.run_id)
            shutil.rmtree(self.plan.settings.run_dir, ignore_errors=True)
        return {"kind": left}

    def versions(self) -> dict[str, str]:
        return dict(self._versions)
