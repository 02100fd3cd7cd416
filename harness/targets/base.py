"""What every target offers the suites: endpoints, credentials, versions, capabilities.

Scenarios never ask which kind of target they run on; they ask for a capability and skip
with a reason when it is missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eg_harness.clients.gateway import GatewayClient


@dataclass
class Capabilities:
    has_hub: bool = False
    has_spark: bool = False
    has_kubernetes: bool = False
    can_restart_gateway: bool = False
    destructive_allowed: bool = False
    # The harness can see the target's processes (local only): kernel pids, parentage.
    process_view: bool = False
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

    def client(self, **kw) -> GatewayClient:
        """A REST/WebSocket client for this gateway with its token and launch timeout."""
        kw.setdefault("launch_timeout", self.launch_timeout)
        return GatewayClient(self.url, self.token, **kw)


@dataclass
class HubEndpoint:
    url: str  # public URL (the proxy)
    api_token: str
    profile: str = "jupyter-gateway"
    user_options: dict[str, Any] = field(default_factory=dict)
    user_prefix: str = "egh-"
    spawn_timeout: float = 120.0


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


@dataclass
class KubernetesAccess:
    kubeconfig: str | None = None  # None: in-cluster config or ~/.kube/config
    namespace: str = "enterprise-gateway"
    context: str | None = None


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
    kubernetes: KubernetesAccess | None = None
    recorded: dict[str, Any] = field(default_factory=dict)  # e.g. the image choice


class Target(ABC):
    kind: str = "abstract"

    def __init__(self) -> None:
        self.gateway: GatewayEndpoint | None = None
        self.hub: HubEndpoint | None = None
        self.spark: SparkEndpoint | None = None
        self.capabilities = Capabilities()
        self.notes: list[str] = []
        self.faults: list[str] = []
        # Versions read from components met during the run (e.g. a spawned user server).
        self.observed_versions: dict[str, str] = {}

    @abstractmethod
    def provision(self, progress=print) -> None:
        """Make the target usable (start it, or check it is reachable); raise TargetUnavailable."""

    @abstractmethod
    def teardown(self) -> dict[str, list[str]]:
        """Undo what provision did; return what was left behind, by kind (empty lists: clean)."""

    def versions(self) -> dict[str, str]:
        return {}

    def endpoints(self) -> dict[str, str]:
        out = {}
        if self.gateway:
            out["gateway"] = self.gateway.url
        if self.hub:
            out["hub"] = self.hub.url
        return out

    def conformance_kernelspecs(self) -> list[str]:
        """The kernelspecs every startup scenario must start (the configured one by default)."""
        return [self.gateway.kernelspec] if self.gateway and self.gateway.kernelspec else []

    def hanging_kernelspec(self) -> str | None:
        """A kernelspec that never comes up, where the target can offer one (local)."""
        return None

    def kernel_pid(self, kernel_id: str) -> int | None:
        """The kernel's process id, where the target can see processes."""
        return None

    def gateway_pid(self) -> int | None:
        return None

    def run_processes(self) -> list:
        """Live processes the run created, where the target can see processes (local)."""
        return []

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        return []

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "endpoints": self.endpoints(),
            "versions": {**self.versions(), **self.observed_versions},
            "capabilities": self.capabilities.to_dict(),
            "faults": list(self.faults),
            "notes": list(self.notes),
        }
