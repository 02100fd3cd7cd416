"""Optional abilities of a target, each an explicit interface a scenario asks for by type.

Only some targets can see their processes or start a second, limited gateway; a target that
can inherits the interface, so `target.ability(ProcessView)` is the whole question and no
method ever quietly returns None for "cannot". `MISSING` says why a scenario skips.
"""

from __future__ import annotations

import contextlib
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eg_harness.targets.endpoints import GatewayEndpoint, KubernetesAccess

if TYPE_CHECKING:
    import psutil
    from typing_extensions import Self  # typing.Self from Python 3.11


class Ability(ABC):  # noqa: B024 - a marker base; each ability declares its methods
    missing: str = "the target lacks this ability"  # the skip reason


class ProcessView(Ability):
    missing = "the target's processes are not visible to the harness (local target only)"

    @abstractmethod
    def kernel_pid(self, kernel_id: str) -> int | None:
        """The kernel's process id, or None when no such kernel process is running."""

    @abstractmethod
    def gateway_pid(self) -> int | None:
        """The gateway's process id, or None once it has stopped."""

    @abstractmethod
    def run_processes(self) -> list[psutil.Process]:
        """Every live process the run created: components, user servers, kernels, launchers."""

    @abstractmethod
    def component_pids(self) -> dict[str, int]:
        """Live components by name ("gateway", "gateway-2", "hub", "proxy", ...): what the
        server-side metrics sample, with their children (kernels, user servers)."""

    @abstractmethod
    def kernel_processes(self, kernel_id: str) -> list[int]:
        """Every live process of one kernel (launcher, Spark driver, the kernel itself)."""


class KernelLimits(Ability):
    missing = "the target cannot start a gateway with kernel limits of the harness's choosing"

    @abstractmethod
    def limited_gateway(
        self, *, max_kernels: int | None = None, per_user: int | None = None
    ) -> contextlib.AbstractContextManager[GatewayEndpoint]:
        """A gateway with these limits for the duration of the block, stopped afterwards."""


class ExtraGateways(Ability):
    missing = "the target cannot start more gateway processes (local target only)"

    @abstractmethod
    def extra_gateways(
        self, count: int, progress=print
    ) -> contextlib.AbstractContextManager[list[GatewayEndpoint]]:
        """`count` more gateways like the main one, for the block, stopped afterwards: to
        show what a load generator can hold beyond what one gateway process accepts."""


class HangingKernelspec(Ability):
    missing = "the target offers no kernelspec that never comes up (local target only)"

    @abstractmethod
    def hanging_kernelspec(self) -> str:
        """A kernelspec whose kernel never reports its ports, to exercise the launch timeout."""


@dataclass
class ComponentStop:
    """What stopping one component left: its exit code and the processes it had started that
    outlived it (e.g. kernels a gateway did not shut down), by pid and command line."""

    name: str
    exit_code: int | None
    outlived: list[str] = field(default_factory=list)


class ComponentControl(Ability):
    """Faults injected into a running stack: stop, kill, hang and restart a component in place.

    A restarted component keeps its address and credentials, as a Kubernetes pod behind its
    Service does, so clients that held on (user servers, the proxy, the harness) find it again.
    Scenarios that disturb every user of a stack ask for a short-lived one of their own
    (OwnStacks), never the one other suites share.
    """

    missing = (
        "the target cannot stop, kill, pause and restart its components in place "
        "(local target only)"
    )

    @abstractmethod
    def components(self) -> list[str]:
        """The components that can be stopped and started, e.g. gateway, hub, proxy."""

    @abstractmethod
    def component_pid(self, name: str) -> int | None:
        """The running component's main process id, or None while it is stopped."""

    @abstractmethod
    def stop_component(
        self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 30.0
    ) -> ComponentStop:
        """Send `sig` as a pod's container gets it (SIGTERM to its main process, SIGKILL to all of
        it) and wait for it to exit; what it started and left running is reported, not killed
        (the caller decides). Separate processes it spawned (a hub's user servers) are not
        touched."""

    @abstractmethod
    def start_component(self, name: str, **changes: Any) -> None:
        """Start a stopped component again at the same address with the same credentials.
        `changes` are what an operator would change with it: `versions` (a new release),
        `env` (the gateway's environment), `config` (the gateway's traitlets), `settings` (the
        hub's), `upgrade_db` (the hub's database migration first); a value of None unsets."""

    def signal_component(self, name: str, sig: int) -> None:
        """Send a signal to the whole component without waiting (SIGSTOP/SIGCONT for a hang)."""
        raise NotImplementedError


class OwnStacks(Ability):
    """Short-lived stacks of its own for scenarios that stop, kill or upgrade components.

    Apart from ComponentControl because it needs nothing of the shared stack: a parallel run's
    worker cannot restart the controller's gateway, but it can stand up and tear down a stack
    of its own (named after the run and its pid, so the leak checks still find it)."""

    missing = "the target cannot stand up a short-lived stack of its own (local target only)"

    @abstractmethod
    def own_stack(
        self,
        *,
        gateway_env: dict[str, str] | None = None,
        gateway_config: dict[str, Any] | None = None,
        hub_settings: dict[str, Any] | None = None,
        versions: Any = None,
        with_hub: bool = True,
        progress: Callable[[str], None] = print,
    ) -> contextlib.AbstractContextManager[Self]:
        """A fresh stack like this one (same faults; same versions unless `versions`, a version
        set of eg_harness.runtime.versions, names others) with these deployment choices (EG
        environment, EG traitlets such as culling, hub settings; no hub and proxy when
        `with_hub` is false), torn down on exit; raises if its teardown left anything behind.
        The stack it yields has these abilities too."""


class ClusterAccess(Ability):
    """Read access to the cluster the gateway runs its kernels in (and, for the network and
    pull scenarios, the right to start a probe pod). The kind target has it; an existing target
    has it when its config has a `kubernetes:` section. One access path: every Kubernetes
    scenario and the spark suite's driver-pod check reach the cluster through this.

    The kubernetes suite asks for it before the target is provisioned (so a target without a
    cluster skips at once): a target that always has a cluster (kind) inherits it and answers
    `kubernetes()` once provisioned; one whose access depends on its configuration holds a
    `KubernetesCluster` (below) in `offered` from construction."""

    missing = (
        "the target gives the harness no Kubernetes access (the kind target has it; an existing "
        "target needs a kubernetes: section in its config)"
    )

    @abstractmethod
    def kubernetes(self) -> KubernetesAccess:
        """Where the cluster is (kubeconfig or in-cluster) and what the deployment looks like
        there (gateway namespace and service, hub namespace, policy enforcement)."""


class UnpullableImage(Ability):
    """A kernel start whose image cannot be pulled (EG #683). A Kubernetes target offers it
    without any cluster-side set-up: EG 3.3's container process proxies take a client's
    KERNEL_IMAGE over the kernelspec's image_name (container.py _determine_kernel_images), so
    the gateway's own Kubernetes kernelspec is started with an image that cannot exist."""

    missing = "the target offers no kernel image that cannot be pulled (Kubernetes targets only)"

    @abstractmethod
    def unpullable_image(self) -> tuple[str | None, dict[str, str], str]:
        """(kernelspec, start env, image): None as kernelspec means the gateway's kernelspec."""


class KeptDeployment(Ability):
    """A deployment that outlives the run that provisioned it: `eg-harness up --target T`
    provisions, keeps, and tears down on Ctrl-C or `eg-harness down`; meanwhile `eg-harness run
    --target T` attaches to it (no bring-up, no teardown) and applies its seeded faults to the
    live deployment, reverting them when it ends. For targets whose bring-up is the cost of a
    run (the node cluster)."""

    missing = "the target cannot keep its deployment for later runs (node target only)"

    @abstractmethod
    def keep(self) -> Path:
        """After provision(): record the deployment for later runs to attach to, until this
        process tears it down; returns the record's path."""


# Name in results.json's capabilities -> ability.
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


ABILITIES: dict[str, type[Ability]] = {
    "process_view": ProcessView,
    "kernel_limits": KernelLimits,
    "hanging_kernelspec": HangingKernelspec,
    "component_control": ComponentControl,
    "own_stacks": OwnStacks,
    "cluster_access": ClusterAccess,
    "unpullable_image": UnpullableImage,
    "extra_gateways": ExtraGateways,
}

__all__ = [
    "ABILITIES",
    "Ability",
    "ClusterAccess",
    "ComponentControl",
    "ComponentStop",
    "HangingKernelspec",
    "KernelLimits",
    "OwnStacks",
    "ProcessView",
    "UnpullableImage",
    "ExtraGateways",
    "KubernetesCluster",
]
