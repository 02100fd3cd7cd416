"""What every target offers the suites: endpoints, credentials, versions, abilities.

Scenarios never ask which kind of target they run on; they ask for an endpoint (hub, spark)
or an ability (targets/abilities.py) and skip with a reason when it is missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from eg_harness.clients.gateway import GatewayClient, StartWatch
from eg_harness.runtime.runid import new_run_id
from eg_harness.targets.abilities import ABILITIES, Ability, ClusterAccess, UnpullableImage

A = TypeVar("A", bound=Ability)


@dataclass
class Capabilities:
    """Facts about the target that results.json reports; abilities are derived, not stored."""

    destructive_allowed: bool = False
    list_kernels: bool = True

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


@dataclass
class GatewayEndpoint:
    url: str
    token: str | None
    kernelspec: str | None = None  # None: the gateway's default
    launch_timeout: float = 60.0
    ws_ping_interval: float = 30.0
    max_kernels: int | None = None  # the gateway's EG_MAX_KERNELS, where known
    unauthorized_users: list[str] = field(default_factory=lambda: ["root"])
    # The gateway's idle culling (RemoteMappingKernelManager.cull_idle_timeout, cull_interval),
    # where known: 0 is off (EG's own default), None not known. The lifecycle scenarios wait for
    # the culler only where these say it acts within the run.
    cull_idle_timeout: float | None = None
    cull_interval: float | None = None

    def __post_init__(self) -> None:
        # Not a field: a live cluster reader (k8s/podwatch.py) that a process attaches for
        # itself; it never travels in a handoff (asdict) or a report.
        self.start_watch: StartWatch | None = None

    def client(self, **kw) -> GatewayClient:
        """A REST/WebSocket client for this gateway with its token and launch timeout (and, on
        a cluster target, the pod watch that names what a failing start's pod did)."""
        kw.setdefault("launch_timeout", self.launch_timeout)
        kw.setdefault("start_watch", self.start_watch)
        return GatewayClient(self.url, self.token, **kw)


@dataclass
class HubEndpoint:
    url: str  # public URL (the proxy)
    api_token: str
    profile: str = "jupyter-gateway"
    user_options: dict[str, Any] = field(default_factory=dict)
    user_prefix: str = "egh-"
    spawn_timeout: float = 120.0
    # What the spawner gives a stopping server between SIGTERM and SIGKILL (KubeSpawner's
    # delete_grace_period, 1 s by default), where known: reported beside the measured stop.
    delete_grace_period: float | None = None


@dataclass
class SparkChoice:
    """One profile choice the spark suite exercises, and what it must give the driver."""

    memory: str  # a Spark size, e.g. "2g": the driver JVM's heap
    cpus: str  # driver cores, and the local-mode parallelism where the driver runs locally
    # The hub spawn options that select this choice; empty: exercised at the gateway only.
    user_options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.memory}-{self.cpus}cpu"


# An image reference that can never be pulled: the .invalid top-level domain never resolves
# (RFC 2606), so the pull fails at once on any cluster, with or without internet.
UNPULLABLE_IMAGE = "registry.invalid/eg-harness/no-such-image:0"


@dataclass
class KubernetesAccess:
    """How the harness reaches the cluster, and the facts of the deployment it checks there."""

    kubeconfig: str | None = None  # None: in-cluster config, else ~/.kube/config
    namespace: str = "enterprise-gateway"  # the gateway's namespace
    context: str | None = None
    gateway_service: str = "enterprise-gateway"  # the gateway's Service in `namespace`
    hub_namespace: str | None = None  # where user pods run; None: the user-pod checks skip
    # Whether kernels share the gateway's namespace (EG_SHARED_NAMESPACE, the chart's
    # kernel.shareGatewayNamespace); False: EG makes a namespace per kernel; None: either.
    shared_namespace: bool | None = None
    # Whether the cluster's network plugin enforces NetworkPolicy; None: unknown, so the
    # "outsiders cannot reach the gateway" half of the network scenario skips.
    network_policy_enforced: bool | None = None
    unpullable_image: str = UNPULLABLE_IMAGE
    unpullable_kernelspec: str | None = None  # None: the gateway's kernelspec
    # An image present on the cluster whose command exits at once (a kernel pod that dies
    # before its kernel reports); None: the dead-pod scenario skips.
    exiting_image: str | None = None


class KubernetesCluster(ClusterAccess, UnpullableImage):
    """A target's Kubernetes abilities as one object a target holds (see Target.offered): the
    existing target builds it from its config, the kind target from the cluster it made."""

    def __init__(self, access: KubernetesAccess) -> None:
        self.access = access

    def kubernetes(self) -> KubernetesAccess:
        return self.access

    def unpullable_image(self) -> tuple[str | None, dict[str, str], str]:
        image = self.access.unpullable_image
        return self.access.unpullable_kernelspec, {"KERNEL_IMAGE": image}, image


@dataclass
class SparkEndpoint:
    """The target's Spark kernelspec and the resource choices its users can make."""

    kernelspec: str
    choices: list[SparkChoice] = field(default_factory=list)
    launch_timeout: float = 120.0
    # A profile option that takes free text (KubeSpawner's unlisted_choice), so bad values can
    # travel through the hub too; None: bad values are tried at the gateway only.
    free_memory_option: str | None = None
    # A memory request larger than any node of the target (a pod that can never be scheduled).
    oversize_memory: str = "4096g"
    # Whether the driver runs on the machine that runs Spark in local mode (local[N]), so that
    # the default parallelism equals the cores; False for cluster-mode drivers.
    local_mode: bool = True
    recorded: dict[str, Any] = field(default_factory=dict)  # e.g. the image choice


class Target(ABC):
    """The system under test. `run_id` and `diagnostics_dir` are set by whoever creates it (the
    plugin, `bench`); optional abilities are mixins from targets/abilities.py, asked for with
    `ability()` so a scenario never guesses with hasattr."""

    kind: str = "abstract"
    hub_on_demand: bool = False  # a hub that starts when a test first needs it (LocalTarget)
    # Why a target that has no hub has none, when that is the provider's (not the config's)
    # doing: the skip reason of every scenario that needs the hub.
    no_hub_reason: str | None = None

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id: str = run_id or new_run_id()
        self.diagnostics_dir: Path | None = None  # where teardown copies component logs
        self.gateway: GatewayEndpoint | None = None
        self.hub: HubEndpoint | None = None
        self.spark: SparkEndpoint | None = None
        self.capabilities = Capabilities()
        self.notes: list[str] = []
        self.faults: list[str] = []
        # Versions read from components met during the run (e.g. a spawned user server).
        self.observed_versions: dict[str, str] = {}
        # Abilities held as objects rather than inherited, for those that depend on the
        # target's configuration (e.g. Kubernetes access only with a kubernetes: section).
        self.offered: list[object] = []
        # Abilities the class has but this process may not use, with the reason.
        self.withheld: dict[type[Ability], str] = {}

    def ability(self, kind: type[A]) -> A | None:
        """This target as `kind` (e.g. ProcessView) if it has that ability, or the object it
        holds that has it, else None."""
        if any(issubclass(kind, w) for w in self.withheld):
            return None
        if isinstance(self, kind):
            return self
        return next((a for a in self.offered if isinstance(a, kind)), None)

    def why_missing(self, kind: type[Ability]) -> str:
        """Why `ability(kind)` is None: the ability's own reason, or why this process withholds
        it (e.g. a parallel run's worker cannot restart the stack its controller owns)."""
        return next((why for w, why in self.withheld.items() if issubclass(kind, w)), kind.missing)

    @abstractmethod
    def provision(self, progress=print) -> None:
        """Make the target usable (start it, or check it is reachable); raise TargetUnavailable."""

    @abstractmethod
    def teardown(self) -> dict[str, list[str]]:
        """Undo what provision did; return what was left behind, by kind (empty lists: clean)."""

    def versions(self) -> dict[str, str]:
        return {}

    def started_hub(self) -> HubEndpoint | None:
        """The hub endpoint, without starting a hub that waits until a test needs it (the
        local target in a serial run): for describing the target, never for using it."""
        return self.hub

    def endpoints(self) -> dict[str, str]:
        out = {}
        if self.gateway:
            out["gateway"] = self.gateway.url
        hub = self.started_hub()
        if hub:
            out["hub"] = hub.url
        return out

    def conformance_kernelspecs(self) -> list[str]:
        """The kernelspecs every startup scenario must start (the configured one by default)."""
        return [self.gateway.kernelspec] if self.gateway and self.gateway.kernelspec else []

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        return []

    # -- sharing one provisioned target between processes (parallel runs) ------------------
    def handoff(self) -> dict[str, Any]:
        """What another process needs to use this provisioned target without provisioning it:
        endpoints with their credentials, facts and versions, as plain data. Parallel runs
        provision once (pytest-xdist's controller) and give this to every worker; it carries
        tokens, so it travels only between processes of the run, never into a file or a log."""
        return {
            "kind": self.kind,
            "run_id": self.run_id,
            "gateway": asdict(self.gateway) if self.gateway else None,
            "hub": asdict(self.hub) if self.hub else None,  # started, if it waits
            "spark": asdict(self.spark) if self.spark else None,
            "capabilities": self.capabilities.to_dict(),
            "notes": list(self.notes),
            "faults": list(self.faults),
            "versions": self.versions(),
        }

    def attach(self, handoff: dict[str, Any]) -> None:
        """Use a target another process provisioned (see handoff) instead of `provision()`."""
        self.run_id = handoff["run_id"]
        self.gateway = GatewayEndpoint(**handoff["gateway"]) if handoff["gateway"] else None
        self.hub = HubEndpoint(**handoff["hub"]) if handoff["hub"] else None
        self.spark = _spark_from(handoff["spark"]) if handoff["spark"] else None
        self.capabilities = Capabilities(**handoff["capabilities"])
        self.notes = list(handoff["notes"])
        self.faults = list(handoff["faults"])

    def release(self) -> dict[str, list[str]]:
        """The end of an attached target's use: undo what *this* process started on it and
        leave the shared stack to the process that provisioned it (which tears it down)."""
        return {}

    def capability_report(self) -> dict[str, bool]:
        """What the report lists: the stored facts plus what the endpoints and abilities imply."""
        return {
            "has_hub": self.hub_on_demand or self.started_hub() is not None,
            "has_spark": self.spark is not None,
            "has_kubernetes": self.ability(ClusterAccess) is not None,
            **{name: self.ability(cls) is not None for name, cls in ABILITIES.items()},
            **self.capabilities.to_dict(),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoints": self.endpoints(),
            "versions": {**self.versions(), **self.observed_versions},
            "capabilities": self.capability_report(),
            "faults": list(self.faults),
            "notes": list(self.notes),
        }


def _spark_from(data: dict[str, Any]) -> SparkEndpoint:
    data = dict(data)
    data["choices"] = [SparkChoice(**c) for c in data.get("choices", [])]
    if data.get("kubernetes"):
        data["kubernetes"] = KubernetesAccess(**data["kubernetes"])
    known = {f.name for f in fields(SparkEndpoint)}
    return SparkEndpoint(**{k: v for k, v in data.items() if k in known})
