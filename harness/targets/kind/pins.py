"""The kind target's pins and bounds (clusters/kind/kind.json), read once into typed values.

They live in a data file beside the cluster definitions, like the local target's pins, so a
new node image or chart version is a one-line change that the plan and its tests pick up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eg_harness import resources

KIND_DIR = resources.CLUSTERS / "kind"
IMAGES_DIR = KIND_DIR / "images"
EG_VALUES = KIND_DIR / "enterprise-gateway-values.yaml"
HUB_PROFILE_DIR = KIND_DIR / "jupyterhub-profile"
HUB_VALUES = HUB_PROFILE_DIR / "values.yaml"
HUB_EXTRA_CONFIG = HUB_PROFILE_DIR / "extra-config.py"
HUB_PROFILE_FORM = HUB_PROFILE_DIR / "profile-form.html"
KIND_CONFIG_TEMPLATE = KIND_DIR / "kind-config.yaml.j2"

# What the harness puts on everything it creates, and how `down` finds it again.
RUN_LABEL = "eg-harness/run-id"
CLUSTER_PREFIX = "egh-"


@dataclass(frozen=True)
class Pins:
    raw: dict[str, Any]

    @property
    def kind_version(self) -> str:
        return self.raw["kind_version"]

    @property
    def node_image(self) -> str:
        return self.raw["node_image"]

    @property
    def helm_min_version(self) -> str:
        return self.raw["helm_min_version"]

    @property
    def eg(self) -> dict[str, Any]:
        return self.raw["enterprise_gateway"]

    @property
    def hub(self) -> dict[str, Any]:
        return self.raw["jupyterhub"]

    def timeout(self, name: str) -> float:
        return float(self.raw["timeouts_s"][name])

    @property
    def resources(self) -> dict[str, float]:
        return self.raw["resources"]


@cache
def load_pins(path: Path | None = None) -> Pins:
    return Pins(json.loads((path or KIND_DIR / "kind.json").read_text()))


def cluster_name_for(run_id: str) -> str:
    """A kind cluster name carrying the run id (kind wants lowercase DNS-label characters)."""
    return (CLUSTER_PREFIX + run_id).lower().replace("_", "-")[:40].rstrip("-")
