"""The local gateway's kernelspecs: copied from clusters/local/kernelspecs, faults applied to
the parsed kernel.json, then the placeholders filled in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from eg_harness import resources
from eg_harness.targets.faults import Fault

SOURCE = resources.LOCAL_CLUSTER / "kernelspecs"


def render(dest: Path, faults: list[Fault], placeholders: dict[str, str]) -> list[str]:
    """Write every kernelspec under `dest`; returns their names (EG's allowed_kernels)."""
    names = []
    for spec_dir in sorted(SOURCE.iterdir()):
        if not (spec_dir / "kernel.json").exists():
            continue
        out = dest / spec_dir.name
        shutil.copytree(spec_dir, out)
        spec = patched(spec_dir.name, faults)
        (out / "kernel.json").write_text(json.dumps(_fill(spec, placeholders), indent=2))
        names.append(spec_dir.name)
    return names


def patched(name: str, faults: list[Fault]) -> dict:
    """The kernelspec as written in the repo, with the faults' patches for it applied."""
    spec = json.loads((SOURCE / name / "kernel.json").read_text())
    for fault in faults:
        for patch in fault.kernelspec_patches:
            if patch.kernelspec == name:
                spec = patch.apply(spec)
    return spec


def fill(text: str, placeholders: dict[str, str]) -> str:
    """One string with the placeholders filled in (e.g. a fault's wrapper argv)."""
    return _fill(text, placeholders)


def _fill(node, placeholders: dict[str, str]):
    if isinstance(node, str):
        for key, value in placeholders.items():
            node = node.replace(key, value)
        return node
    if isinstance(node, list):
        return [_fill(v, placeholders) for v in node]
    if isinstance(node, dict):
        return {k: _fill(v, placeholders) for k, v in node.items()}
    return node
