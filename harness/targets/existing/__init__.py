"""The existing target: a live deployment described by YAML; nothing is started or stopped."""

from eg_harness.targets.existing.target import ExistingTarget

__all__ = ["ExistingTarget"]
