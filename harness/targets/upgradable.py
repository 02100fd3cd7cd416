"""What `eg-harness upgrade` asks of a kind's upgrade class (PROVIDERS' `upgrade` entry in
eg_harness.targets.spec), before it builds one: which releases A and B are, which operator steps
the kind can take and which it takes by default, which suites run on B by default.

The command used to keep this in tables keyed by the kind and a branch per kind (the node's
release pairs imported from targets/node/upgrade.py inside it); here each upgrade class says it
once, and the command asks `provider(kind, upgrade=True)`. Not an ability: the command reads it
from the class, before any target exists (eg_harness.targets.abilities are asked of a target).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from eg_harness.runtime.versions import Versions


class Upgradable:
    """A kind `eg-harness upgrade` can bring up at release A and move to B."""

    # The operator steps (eg_harness.upgrade.journey.STEP_NEEDS) this kind can take, in the
    # order --steps' help lists them, and the ones it takes when --steps is not given.
    upgrade_steps: ClassVar[tuple[str, ...]]
    default_upgrade_steps: ClassVar[tuple[str, ...]]
    # --suite's default for the upgraded stack: all, quick, or a list of suites.
    default_upgrade_suite: ClassVar[str]
    # Why this kind's hub cannot take --cleanup-servers (a one-line error's cause and fix);
    # None: the hub takes the upgrade's hub settings.
    refuses_cleanup_servers: ClassVar[str | None] = None

    @classmethod
    @abstractmethod
    def upgrade_releases(cls, origin: str | None, dest: str | None) -> tuple[Versions, Versions]:
        """A and B from --from and --to (`gateway=3.2.3,hub=5.5.4`; None: the kind's default),
        or ConfigError naming a pair this kind cannot upgrade between."""
