"""What every target offers the suites: endpoints, credentials, versions, abilities.

Scenarios never ask which kind of target they run on; they ask for an endpoint (hub, spark)
or an ability (eg_harness.targets.abilities) and skip with a reason when it is missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from eg_harness.runtime.runid import new_run_id
from eg_harness.targets.abilities import ABILITIES, Ability, ClusterAccess
from eg_harness.targets.endpoints import (
    Capabilities,
    GatewayEndpoint,
    HubEndpoint,
    SparkEndpoint,
    spark_from,
)

__all__ = ["Target"]

A = TypeVar("A", bound=Ability)


class Target(ABC):
    """The system under test. `run_id` and `diagnostics_dir` are set by whoever creates it (the
    plugin, `bench`); optional abilities are mixins from eg_harness.targets.abilities, asked for
    with `ability()` so a scenario never guesses with hasattr."""

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
        self.spark = spark_from(handoff["spark"]) if handoff["spark"] else None
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
