"""Seeded faults on the node cluster (eg_harness.targets.faults records for `--target node`),
applied where an operator's mistake would be: in the kernelspecs image, or in the installed RBAC.

- `kernel_pod_template_drops`: the kernelspecs image is built again from its staged context with
  those lines gone from every kernelspec's kernel-pod.yaml.j2, under its own name and content
  tag, and the chart is given that image as the seed's <KERNEL SPEC IMAGE>.
- `gateway_role_revokes`: after the install, rights are taken from the chart's ClusterRole for
  EG's service account (`kubectl patch`), so EG runs but cannot do what a kernel start (or a
  kernel's cleanup) needs.
- `kernelspec_file_drops`: like the template drops, in one named file of the kernelspecs image
  (a kernelspec's launcher); the Spark kernelspec the node target adds on top keeps them.
- `hub_profile_unsets`: after the hub is installed, keys go from the gateway profile's
  kubespawner_override in the hub's values (its Secret) and the hub restarts with them
  (`seed_hub`), as an operator's edited values file would install it.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.faults import Fault, drop_template_lines
from eg_harness.targets.kind.images import Image, context_digest
from eg_harness.targets.node import images as node_images
from eg_harness.targets.node.install import GATEWAY_ROLE, run

TEMPLATE = "kernel-pod.yaml.j2"


def faulty_kernelspecs(image: Image, faults: Sequence[Fault], progress=print) -> Image:
    """`image` (the staged kernelspecs) with the faults' template lines dropped, built."""
    drops = tuple(d for f in faults for d in f.kernel_pod_template_drops)
    file_drops = [d for f in faults for d in f.kernelspec_file_drops]
    if not drops and not file_drops:
        return image
    root = node_images.node_dir() / "contexts"
    work = root / f"{image.name}-faulty.staging"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(image.context, work)
    templates = sorted(work.rglob(TEMPLATE))
    if not templates:
        raise ConfigError(f"the kernelspecs image context {image.context} has no {TEMPLATE}")
    if drops:
        for path in templates:
            text = path.read_text()
            path.write_text(drop_template_lines(text, drops, str(path.relative_to(work))))
    drop_kernelspec_lines(work, file_drops)
    what = ", ".join([*drops, *(f"{'; '.join(d.lines)} ({d.path})" for d in file_drops)])
    digest = context_digest(work, image.build_args)
    final = root / f"{image.name}-faulty-{digest[:16]}"
    if final.exists():
        shutil.rmtree(work)
    else:
        work.rename(final)
    faulty = Image(
        f"{image.name}-faulty",
        f"{image.what}, with a seeded fault: {what} dropped",
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
            "fault record in eg_harness.targets.faults"
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


def drop_kernelspec_lines(context: Path, file_drops: Sequence) -> None:
    """Remove each KernelspecFileDrop's lines from its file under `context`/kernels/; a file
    that is missing, or a line not found exactly once, is an error naming the fault record."""
    for drop in file_drops:
        path = context / "kernels" / drop.path
        if not path.is_file():
            raise ConfigError(
                f"fault patch: the kernelspecs image has no kernels/{drop.path}; update the fault "
                "record in eg_harness.targets.faults"
            )
        path.write_text(drop_template_lines(path.read_text(), drop.lines, f"kernels/{drop.path}"))


HUB_SECRET = "hub"  # hub.base_manifests: the hub's values as the Secret's values.yaml
HUB_VALUES_KEY = "values.yaml"


def unset_profile_keys(values: dict, keys: Sequence[str], slug: str) -> dict:
    """The hub's values with `keys` gone from the `slug` profile's kubespawner_override; a key
    the profile does not have is an error, so a renamed key cannot make the fault a no-op."""
    out = copy.deepcopy(values)
    profiles = (out.get("singleuser") or {}).get("profileList") or []
    profile = next((p for p in profiles if p.get("slug") == slug), None)
    if profile is None:
        raise ConfigError(
            f"fault patch for the hub: no profile {slug!r} in the hub's values; update the fault "
            "record in eg_harness.targets.faults"
        )
    override = profile.get("kubespawner_override") or {}
    for key in keys:
        if key not in override:
            raise ConfigError(
                f"fault patch for the hub: profile {slug!r} has no kubespawner_override key "
                f"{key!r}; update the fault record in eg_harness.targets.faults"
            )
        del override[key]
    return out


def seed_hub(
    kubectl: Sequence[str],
    faults: Sequence[Fault],
    namespace: str,
    slug: str,
    timeout: float = 180,
    progress=print,
) -> str | None:
    """Apply the faults' hub_profile_unsets to the installed hub: its values Secret rewritten
    (through stdin: it holds tokens), the hub Deployment restarted and waited for. Returns the
    Secret's values as they were (base64, for `restore_hub`), or None when no fault touches the
    hub."""
    keys = [k for f in faults for k in f.hub_profile_unsets]
    if not keys:
        return None
    progress(f"seeded fault: removing {', '.join(keys)} from the hub profile {slug!r}")
    doc = _hub_secret(kubectl, namespace)
    before = doc["data"][HUB_VALUES_KEY]
    values = yaml.safe_load(base64.b64decode(before).decode()) or {}
    text = yaml.safe_dump(unset_profile_keys(values, keys, slug), sort_keys=False)
    _write_hub_values(kubectl, namespace, doc, base64.b64encode(text.encode()).decode(), timeout)
    return before


def restore_hub(kubectl: Sequence[str], namespace: str, before: str, timeout: float = 180) -> None:
    """Undo `seed_hub`: the Secret's values as they were, the hub restarted with them."""
    _write_hub_values(kubectl, namespace, _hub_secret(kubectl, namespace), before, timeout)


def _hub_secret(kubectl: Sequence[str], namespace: str) -> dict:
    return json.loads(
        run(
            [*kubectl, "get", "secret", HUB_SECRET, "--namespace", namespace, "-o", "json"],
            30,
            f"reading Secret {namespace}/{HUB_SECRET}",
        )
    )


def _write_hub_values(
    kubectl: Sequence[str], namespace: str, doc: dict, encoded: str, timeout: float
) -> None:
    doc["data"][HUB_VALUES_KEY] = encoded
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        doc["metadata"].pop(key, None)
    run_stdin(
        [*kubectl, "replace", "-f", "-"],
        json.dumps(doc),
        30,
        f"rewriting Secret {namespace}/{HUB_SECRET}",
    )
    before = _hub_pods(kubectl, namespace)
    deployment = ["deployment/hub", "--namespace", namespace]
    run([*kubectl, "rollout", "restart", *deployment], 30, "restarting the hub")
    # The hub's Deployment recreates (one SQLite database): `rollout status` can return while
    # the old pod is going and before the new one exists (seen on the node cluster: the next
    # request met the proxy's 404). Ready means one pod, not the old one, Ready, not going.
    old = {p["metadata"]["uid"] for p in before}
    try:
        wait_for(
            "the restarted hub's pod to be Ready",
            lambda: hub_restarted(_hub_pods(kubectl, namespace), old),
            timeout,
            max_interval=1,
        )
    except WaitTimeout as exc:
        raise TargetUnavailable(
            f"the hub did not come back after the seeded fault: {exc}"
        ) from None


HUB_SELECTOR = "component=hub"


def _hub_pods(kubectl: Sequence[str], namespace: str) -> list[dict]:
    out = run(
        [*kubectl, "get", "pods", "-l", HUB_SELECTOR, "--namespace", namespace, "-o", "json"],
        30,
        f"listing the hub's pods in {namespace}",
    )
    return json.loads(out).get("items") or []


def hub_restarted(pods: list[dict], old_uids: set[str]) -> bool:
    """One hub pod, new (its uid not among `old_uids`), Ready and not being deleted."""
    if len(pods) != 1:
        return False
    pod = pods[0]
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("uid") in old_uids or meta.get("deletionTimestamp"):
        return False
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return bool(ready) and ready[0].get("status") == "True"


def run_stdin(argv: Sequence[str], text: str, timeout: float, what: str) -> str:
    """`install.run` with `text` on stdin (nothing secret in the argv)."""
    try:
        proc = subprocess.run(
            list(argv), input=text, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise TargetUnavailable(f"{what} did not finish in {timeout:.0f}s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:] or ["no output"]
        raise TargetUnavailable(
            redact(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
        )
    return proc.stdout
