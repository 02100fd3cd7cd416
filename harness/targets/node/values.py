"""The node target's per-run helm overlay, laid over clusters/node/enterprise-gateway-values.yaml.

The provider's values file holds what every node install needs (no registry, no puller,
ClusterIP, the one kernelspec built here); what only this run knows, the gateway image's
content-hash reference, goes into an overlay written with its reasons as comments, the same
Overlay the kind target writes (eg_harness.targets.kind.values). The token and the kernelspecs
image travel as the seed's own flags (install.py), not here.
"""

from __future__ import annotations

import os
from pathlib import Path

from eg_harness import resources
from eg_harness.targets.kind.values import Overlay, _set

NODE_EG_VALUES = resources.CLUSTERS / "node" / "enterprise-gateway-values.yaml"


def gateway_overlay(*, gateway_ref: str) -> Overlay:
    values: dict = {}
    reasons: dict[str, str] = {}
    _set(values, "image", gateway_ref)
    reasons["image"] = (
        "the gateway image built here from EG's PyPI package and imported into the node's "
        "containerd (content-hash tag, never latest)"
    )
    return Overlay("gateway overlay (node)", values, reasons)


def write_overlay(overlay: Overlay, path: Path) -> Path:
    """The overlay as a file only its owner reads (it may one day carry a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(overlay.render())
    return path
