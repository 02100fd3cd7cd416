"""Shared by the kind and node provider tests: a fake EG sdist with the files their image
staging reads, and the kernelspecs' process-proxy config as EG's sdist ships it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from eg_harness.targets.kind.egdist import EgDist

UPSTREAM_KERNELSPECS = {
    "python_kubernetes": {"image_name": "elyra/kernel-py:VERSION"},
    "spark_python_kubernetes": {
        "image_name": "elyra/kernel-spark-py:VERSION",
        "executor_image_name": "elyra/kernel-spark-py:VERSION",
    },
}
LAUNCHERS = [
    "etc/kernel-launchers/bootstrap/bootstrap-kernel.sh",
    "etc/kernel-launchers/python/scripts/launch_ipykernel.py",
    "etc/kernel-launchers/kubernetes/scripts/launch_kubernetes.py",
    "etc/kernel-launchers/kubernetes/scripts/kernel-pod.yaml.j2",
    "etc/kernel-resources/python/logo-64x64.png",
    "etc/kernelspecs/spark_python_kubernetes/bin/run.sh",
]


@pytest.fixture
def upstream_kernelspecs() -> dict:
    return UPSTREAM_KERNELSPECS


@pytest.fixture
def fake_eg_dist(tmp_path: Path) -> Callable[[Iterable[str]], EgDist]:
    """fake_eg_dist(extra files) -> an EG 3.3.0 sdist tree: the launchers, `extra`, and the
    kernelspecs' kernel.json with UPSTREAM_KERNELSPECS's config."""

    def make(extra: Iterable[str] = ()) -> EgDist:
        root = tmp_path / "jupyter_enterprise_gateway-3.3.0"
        for rel in [*LAUNCHERS, *extra]:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(f"# {rel}\n")
        for name, config in UPSTREAM_KERNELSPECS.items():
            doc = {"argv": ["python"], "metadata": {"process_proxy": {"config": dict(config)}}}
            path = root / f"etc/kernelspecs/{name}/kernel.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc))
        return EgDist(root, "3.3.0")

    return make
