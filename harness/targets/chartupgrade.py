"""The ability to upgrade the gateway's helm chart in place, A -> B, as an operator does.

An ability of its own module for now: eg_harness.targets.abilities has another engineer's change in
progress (KeptDeployment); it moves there with its neighbours once that lands. Asked for by
`eg-harness upgrade`'s `gateway-chart` step (eg_harness.upgrade.journey).
"""

from __future__ import annotations

from abc import abstractmethod

from eg_harness.targets.abilities import Ability


class ChartUpgrade(Ability):
    """The gateway installed by its chart, upgradable to another release's chart and images with
    the same values and token (the seed's `helm upgrade --install --atomic`): users keep their
    hub, user servers and the Service's address; what they keep of their kernels is the
    question."""

    missing = (
        "the target cannot upgrade its gateway's helm chart in place (node target: "
        "eg-harness upgrade --target node)"
    )

    @abstractmethod
    def stage_release(self, version: str, progress=print) -> None:
        """Make release `version`'s chart, images and kernelspecs ready on the cluster (an
        operator's pushed images), so the upgrade step itself measures only the helm upgrade."""

    @abstractmethod
    def upgrade_chart(self, version: str, progress=print) -> list[str]:
        """`helm upgrade` to `version` (staged first) and wait until the gateway's Service
        answers as that release; returns notes on what the upgrade did (the rollout, figures).
        Raises HarnessError when the release does not come up."""
