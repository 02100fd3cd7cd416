"""The node target's pins and bounds (clusters/node/node.json), read once.

A data file beside the cluster definitions, like the kind target's, so a new Debian package
version or a port is a one-line change the runtime and its tests pick up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eg_harness import resources

NODE_DIR = resources.CLUSTERS / "node"


@dataclass(frozen=True)
class NodePins:
    raw: dict[str, Any]

    @property
    def kubernetes(self) -> dict[str, Any]:
        return self.raw["kubernetes"]

    @property
    def debian_version(self) -> str:
        return self.raw["kubernetes"]["debian_version"]

    @property
    def git_version(self) -> str:
        return self.raw["kubernetes"]["git_version"]

    @property
    def components(self) -> list[str]:
        return list(self.raw["kubernetes"]["components"])

    @property
    def apt(self) -> dict[str, Any]:
        return self.raw["apt"]

    @property
    def network(self) -> dict[str, str]:
        return self.raw["network"]

    def port(self, name: str) -> int:
        return int(self.raw["ports"][name])

    @property
    def ports(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.raw["ports"].items()}

    def timeout(self, name: str) -> float:
        return float(self.raw["timeouts_s"][name])


@cache
def load_pins(path: Path | None = None) -> NodePins:
    return NodePins(json.loads((path or NODE_DIR / "node.json").read_text()))
