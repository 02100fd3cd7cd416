"""Targets: one interface, several providers (local processes, an existing deployment, kind, a
node cluster built here). A provider is one entry of PROVIDERS: its module and class, imported
only when chosen (the cluster providers pull in heavy dependencies)."""

from __future__ import annotations

import importlib

from eg_harness.errors import ConfigError
from eg_harness.targets.base import Capabilities, GatewayEndpoint, HubEndpoint, Target

# kind -> "module:Class". The order is the one `--target` lists.
PROVIDERS: dict[str, str] = {
    "local": "eg_harness.targets.local.target:LocalTarget",
    "existing": "eg_harness.targets.existing.target:ExistingTarget",
    "kind": "eg_harness.targets.kind.target:KindTarget",
    "node": "eg_harness.targets.node.target:NodeTarget",
}
KINDS = tuple(PROVIDERS)


def provider(kind: str) -> type[Target]:
    """The class of target `kind` (ConfigError naming the choices for an unknown one)."""
    if kind not in PROVIDERS:
        raise ConfigError(f"unknown target {kind!r}: choose one of {', '.join(KINDS)}")
    module, name = PROVIDERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_target(
    kind: str, *, config_path: str | None = None, run_id: str | None = None, **options
) -> Target:
    """The target of `kind`; `run_id` names its processes and the report (new if None)."""
    cls = provider(kind)
    if kind == "existing":
        if not config_path:
            raise ConfigError(
                "--target existing needs --target-config FILE (see clusters/examples/existing.yaml)"
            )
        return cls(config_path, run_id=run_id, **options)
    return cls(run_id=run_id, **options)


__all__ = [
    "KINDS",
    "PROVIDERS",
    "Capabilities",
    "GatewayEndpoint",
    "HubEndpoint",
    "Target",
    "make_target",
    "provider",
]
