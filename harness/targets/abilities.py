"""Optional abilities of a target, each an explicit interface a scenario asks for by type.

Only some targets can see their processes or start a second, limited gateway; a target that
can inherits the interface, so `target.ability(ProcessView)` is the whole question and no
method ever quietly returns None for "cannot". `MISSING` says why a scenario skips.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil
    from eg_harness.targets.base import GatewayEndpoint


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


class KernelLimits(Ability):
    missing = "the target cannot start a gateway with kernel limits of the harness's choosing"

    @abstractmethod
    def limited_gateway(
        self, *, max_kernels: int | None = None, per_user: int | None = None
    ) -> contextlib.AbstractContextManager[GatewayEndpoint]:
        """A gateway with these limits for the duration of the block, stopped afterwards."""


class HangingKernelspec(Ability):
    missing = "the target offers no kernelspec that never comes up (local target only)"

    @abstractmethod
    def hanging_kernelspec(self) -> str:
        """A kernelspec whose kernel never reports its ports, to exercise the launch timeout."""


# Name in results.json's capabilities -> ability.
ABILITIES: dict[str, type[Ability]] = {
    "process_view": ProcessView,
    "kernel_limits": KernelLimits,
    "hanging_kernelspec": HangingKernelspec,
}

__all__ = ["ABILITIES", "Ability", "HangingKernelspec", "KernelLimits", "ProcessView"]
