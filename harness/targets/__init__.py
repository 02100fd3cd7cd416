"""Targets: one interface, several providers (local processes, an existing deployment, kind)."""

from __future__ import annotations

from eg_harness.errors import ConfigError
from eg_harness.targets.base import Capabilities, GatewayEndpoint, HubEndpoint, Target

KINDS = ("local", "existing", "kind")


def make_target(
    kind: str, *, config_path: str | None = None, run_id: str | None = None, **options
) -> Target:
    """The target of `kind`; `run_id` names its processes and the report (new if None)."""
    if kind == "local":
        from eg_harness.targets.local.target import LocalTarget

        return LocalTarget(run_id=run_id, **options)
    if kind == "existing":
        if not config_path:
            raise ConfigError(
                "--target existing needs --target-config FILE (see clusters/examples/existing.yaml)"
            )
        from eg_harness.targets.existing.target import ExistingTarget

        return ExistingTarget(config_path, run_id=run_id, **options)
    if kind == "kind":
        from eg_harness.targets.kind.target import KindTarget

        return KindTarget(run_id=run_id, **options)
    raise ConfigError(f"unknown target {kind!r}: choose one of {', '.join(KINDS)}")


__all__ = ["Capabilities", "GatewayEndpoint", "HubEndpoint", "Target", "make_target"]
