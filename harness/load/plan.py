"""What a bench will run, decided once: its settings, and the steps they make for one target.

Everything downstream (the locust runner, the summary, the report) reads a `Step`, so a setting
is interpreted in one place and never handed down level by level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eg_harness.errors import ConfigError
from eg_harness.targets.base import Target

MODES = ("storm", "churn", "workload")
STORM_GRACE_S = 30.0  # a storm is capped at twice the launch timeout plus this


@dataclass
class BenchSettings:
    ladder: list[int] = field(default_factory=lambda: [1, 2, 5, 10, 20])
    journey: str = "gateway"
    kernelspec: str | None = None
    churn_users: int = 0  # 0: no churn phase
    churn_seconds: float = 30.0
    workers: int = 0  # locust worker processes for the churn phase
    # Workers started elsewhere (a Deployment in the cluster, other machines) that connect to
    # this master on `master_port`; the bench then starts none itself.
    external_workers: bool = False
    master_port: int = 5557
    spawn_limit: int | None = None  # the hub's concurrent_spawn_limit, when the bench sets it
    repeat: int = 1  # rounds of the whole plan on one deployment: the figures' noise

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Step:
    """One locust session: a storm (all users at once, one journey each) or a churn."""

    mode: str
    users: int
    seconds: float  # bounds a churn; caps a storm that never finishes
    journey: str = "gateway"
    kernelspec: str | None = None
    workers: int = 0  # locust worker processes; 0: one local runner process
    external_workers: bool = False  # the workers are started elsewhere and connect to us
    master_port: int | None = None  # fixed port for external workers; None: a free one
    spawn_rate: float | None = None  # users arriving per second; None: all at once
    workload: dict[str, Any] | None = None  # a workload file's locust config (workload mode)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"load mode {self.mode!r} is unknown: choose from {MODES}")
        if self.users < 1:
            raise ConfigError(f"a {self.mode} needs at least one user, not {self.users}")
        if self.mode == "storm" and self.workers:
            # Its users must start at one moment, which only one process can arrange.
            raise ConfigError("a storm runs in one locust process; use workers for churn only")

    @property
    def name(self) -> str:
        """The step's output folder under load/, and its label in messages."""
        return f"storm-{self.users:03d}" if self.mode == "storm" else self.mode

    @property
    def run_seconds(self) -> int:
        """What locust's --run-time gets (whole seconds, at least one)."""
        return max(int(self.seconds), 1)

    def describe(self) -> str:
        if self.mode == "storm":
            return f"{self.users} {self.journey} journeys at once"
        kind = "external workers" if self.external_workers else "workers"
        on = f" on {self.workers} {kind}" if self.workers else ""
        if self.mode == "workload":
            return (
                f"workload: {self.users} users arriving at {self.spawn_rate:g}/s, "
                f"{self.journey} journeys for {self.run_seconds}s{on}"
            )
        return f"{self.users} users churning {self.journey} journeys for {self.run_seconds}s{on}"


def plan(settings: BenchSettings, target: Target) -> list[Step]:
    """The storms up the ladder, then the churn, for a provisioned target."""
    if settings.journey == "hub" and target.hub is None:
        raise ConfigError("the hub journey needs a target with a hub (add a hub: section)")
    kernelspec = resolved_kernelspec(settings, target)
    steps = [
        Step("storm", n, storm_cap(target), settings.journey, kernelspec, workers=0)
        for n in settings.ladder
    ]
    if settings.churn_users:
        steps.append(
            Step(
                "churn",
                settings.churn_users,
                settings.churn_seconds,
                settings.journey,
                kernelspec,
                workers=settings.workers,
                external_workers=settings.external_workers,
                master_port=settings.master_port if settings.external_workers else None,
            )
        )
    return steps


def workload_step(wl: Any, target: Target) -> Step:
    """A workload file (eg_harness.load.workload) as one locust step."""
    if wl.journey == "hub" and target.hub is None:
        raise ConfigError(
            f"workload {wl.name!r} uses the hub journey: the target needs a hub (hub: section)"
        )
    return Step(
        "workload",
        wl.users,
        wl.duration_s,
        wl.journey,
        target.gateway.kernelspec,
        workers=0,
        spawn_rate=wl.arrival.rate_per_s,
        workload=wl.locust_config(),
    )


def storm_cap(target: Target) -> float:
    """How long a storm may take: every user may wait a launch timeout, then shut down."""
    return target.gateway.launch_timeout * 2 + STORM_GRACE_S


def resolved_kernelspec(settings: BenchSettings, target: Target) -> str | None:
    return settings.kernelspec or target.gateway.kernelspec
