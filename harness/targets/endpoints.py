"""How the harness reaches a target: its endpoints, credentials and cluster access, as data.

Apart from base.py (the Target) and abilities.py (what a target can do) so that both, and the
cluster client (k8s/), read these records without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from eg_harness.clients.gateway import GatewayClient, StartWatch


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
        # Not a field: a live cluster reader (eg_harness.k8s.podwatch) that a process attaches for
        # itself; it never travels in a handoff (asdict) or a report.
        self.start_watch: StartWatch | None = None

    def client(self, **kw) -> GatewayClient:
        """A REST/WebSocket client for this gateway with its token and launch timeout (and, on
        a cluster target, the pod watch that names what a failing start's pod did)."""
        kw.setdefault("launch_timeout", self.launch_timeout)
        kw.setdefault("start_watch", self.start_watch)
        return GatewayClient(self.url, self.token, **kw)


# The seed's profile options (KubeSpawner's profile_options: key -> display_name), as its spawn
# form offers them.
SEED_FORM_OPTIONS = {
    "image": "Spark driver image",
    "driver_memory": "Driver memory",
    "driver_cores": "Driver CPUs",
}


@dataclass
class HubPages:
    """What the browser suite needs to know of a hub's own pages, as a user meets them: how the
    login page takes a user, which of the profile's options its spawn form must offer, and
    what the Launcher calls the kernelspec to open. Every target states it (the defaults are
    the seed's hub), so the journey never asks which target it runs on."""

    # "form": the login page's user-name form (JupyterHub's dummy authenticator, or any that
    # takes a name and `password`); any other authenticator cannot be driven headless.
    login: str = "form"
    password: str | None = None  # typed where the login form has a password field
    # The profile's options the spawn form must offer: key -> the name the profile shows.
    form_options: dict[str, str] = field(default_factory=lambda: dict(SEED_FORM_OPTIONS))
    free_text_option: str | None = "driver_memory"  # KubeSpawner's unlisted_choice; None: none
    # The Launcher card of the gateway's kernelspec; None: its display_name from the gateway.
    kernelspec_display_name: str | None = None


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
    pages: HubPages = field(default_factory=HubPages)

    def __post_init__(self) -> None:
        # A parallel run's workers get the record as asdict() made it (handoff).
        if isinstance(self.pages, dict):
            self.pages = HubPages(**self.pages)


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


def spark_from(data: dict[str, Any]) -> SparkEndpoint:
    """A SparkEndpoint from its handoff (asdict) form, as a worker of a parallel run reads it."""
    data = dict(data)
    data["choices"] = [SparkChoice(**c) for c in data.get("choices", [])]
    if data.get("kubernetes"):
        data["kubernetes"] = KubernetesAccess(**data["kubernetes"])
    known = {f.name for f in fields(SparkEndpoint)}
    return SparkEndpoint(**{k: v for k, v in data.items() if k in known})
