"""Targets: one interface, several providers (local processes, an existing deployment, kind, a
node cluster built here). Which one a run uses, and how, is a TargetSpec
(eg_harness.targets.spec); a provider is one entry of its PROVIDERS, imported only when chosen."""

from __future__ import annotations

from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import Capabilities, GatewayEndpoint, HubEndpoint
from eg_harness.targets.spec import KINDS, PROVIDERS, TargetSpec, make_target, provider

__all__ = [
    "KINDS",
    "PROVIDERS",
    "Capabilities",
    "GatewayEndpoint",
    "HubEndpoint",
    "Target",
    "TargetSpec",
    "make_target",
    "provider",
]
