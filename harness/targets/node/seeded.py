"""Seeded faults on the node cluster (targets/faults.py records for `--target node`), applied
where an operator's mistake would be: in the kernelspecs image, or in the installed RBAC.

- `kernel_pod_template_drops`: the kernelspecs image is built again from its staged context with
  those lines gone from every kernelspec's kernel-pod.yaml.j2, under its own name and content
  tag, and the chart is given that image as the seed's <KERNEL SPEC IMAGE>.
- `gateway_role_revokes`: after the install, rights are taken from the chart's ClusterRole for
  EG's service account (`kubectl patch`), so EG runs but cannot do what a kernel start needs.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Sequence

from eg_harness.errors import ConfigError
from eg_harness.targets.faults import Fault, drop_template_lines
from eg_harness.targets.kind.images import Image, context_digest
from eg_harness.targets.node import images as node_images
from eg_harness.targets.node.install import GATEWAY_ROLE, run

TEMPLATE = "kernel-pod.yaml.j2"


def faulty_kernelspecs(image: Image, faults: Sequence[Fault], progress=print) -> Image:
    """`image` (the staged kernelspecs) with the faults' template lines dropped, built."""
    drops = tuple(d for f in faults for d in f.kernel_pod_template_drops)
    if not drops:
        return image
    root = node_images.node_dir() / "contexts"
    work = root / f"{image.name}-faulty.staging"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(image.context, work)
    templates = sorted(work.rglob(TEMPLATE))
    if not templates:
        raise ConfigError(f"the kernelspecs image context {image.context} has no {TEMPLATE}")
    for path in templates:
        path.write_text(drop_template_lines(path.read_text(), drops, str(path.relative_to(work))))
    digest = context_digest(work, image.build_args)
    final = root / f"{image.name}-faulty-{digest[:16]}"
    if final.exists():
        shutil.rmtree(work)
    else:
        work.rename(final)
    faulty = Image(
        f"{image.name}-faulty",
        f"{image.what}, with a seeded fault: {', '.join(drops)} dropped from {TEMPLATE}",
        final,
        digest,
        image.build_args,
    )
    if not node_images.podman_has(node_images.cri_ref(faulty)):
        progress(f"building {faulty.ref} (seeded fault) with podman")
        node_images.run_tool(
            node_images.build_argv(faulty),
            f"podman build {faulty.name}",
            node_images.TIMEOUTS["build"],
            progress,
        )
    return faulty


def revoke(rules: list[dict], right: str) -> list[dict]:
    """ClusterRole `rules` without one right ("verb resource", core API group): a rule that
    grants it loses the verb for that resource only (split off when it names several)."""
    verb, resource = right.split()
    out: list[dict] = []
    found = False
    for rule in rules:
        grants = (
            "" in (rule.get("apiGroups") or [])
            and resource in (rule.get("resources") or [])
            and verb in (rule.get("verbs") or [])
        )
        if not grants:
            out.append(rule)
            continue
        found = True
        others = [r for r in rule["resources"] if r != resource]
        if others:
            out.append({**copy.deepcopy(rule), "resources": others})
        verbs = [v for v in rule["verbs"] if v != verb]
        if verbs:
            out.append({**copy.deepcopy(rule), "resources": [resource], "verbs": verbs})
    if not found:
        raise ConfigError(
            f"fault patch for ClusterRole {GATEWAY_ROLE}: no rule grants {right!r}; update the "
            "fault record in harness/targets/faults.py"
        )
    return out


def revoke_rights(kubectl: Sequence[str], rights: Sequence[str], timeout: float) -> None:
    """Take `rights` from the gateway's ClusterRole in the running cluster."""
    if not rights:
        return
    doc = json.loads(
        run(
            [*kubectl, "get", "clusterrole", GATEWAY_ROLE, "-o", "json"],
            timeout,
            f"reading ClusterRole {GATEWAY_ROLE}",
        )
    )
    rules = doc.get("rules") or []
    for right in rights:
        rules = revoke(rules, right)
    patch = json.dumps([{"op": "replace", "path": "/rules", "value": rules}])
    run(
        [*kubectl, "patch", "clusterrole", GATEWAY_ROLE, "--type=json", "-p", patch],
        timeout,
        f"patching ClusterRole {GATEWAY_ROLE}",
    )
