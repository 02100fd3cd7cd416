"""`eg-harness audit --upgrade-to SET`: what users would see change when the hub side of the
deployment moves from one z2jh release to the next, judged before anyone upgrades.

The same values (and extra config) are given to the KubeSpawner and JupyterHub each z2jh release
ships (a tool environment per version set, clusters/audit/upgrade.json), which build the pod of
each sample user's default server; the two builds are compared field by field: pod and PVC
names, volumes, image, resources, the KERNEL_* and gateway settings of the user server. Sample
users are chosen so the old and new name schemes differ ("Alice.Smith", "user_1"). A change that
detaches a user's home volume (a new PVC name) is a finding with the fix; the rest is reported
as the diff users will meet.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from eg_harness.audit import tools
from eg_harness.audit.deployment import Deployment
from eg_harness.audit.findings import AuditResult, CheckRun, Finding
from eg_harness.errors import ConfigError
from eg_harness.runtime import envs

UPGRADE_PINS = tools.AUDIT_DIR / "upgrade.json"
COMPARED = ("pod_name", "pvc_name", "claims", "volumes", "image", "resources", "env", "labels")
KUBESPAWNER_937 = "https://github.com/jupyterhub/kubespawner/issues/937"
Z2JH_3574 = "https://github.com/jupyterhub/zero-to-jupyterhub-k8s/issues/3574"


@dataclass
class Change:
    user: str
    field: str
    before: object
    after: object


@dataclass
class UpgradeDiff:
    from_set: str
    to_set: str
    before: dict = field(default_factory=dict)  # the probe's answers
    after: dict = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)


def pins() -> dict:
    return json.loads(UPGRADE_PINS.read_text())


def deep_merge(base: dict, new: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def compare(before: dict, after: dict) -> list[Change]:
    """Every compared field that differs, user by user (a user that fails on one side counts)."""
    out: list[Change] = []
    for user in before.get("users", {}):
        a, b = before["users"][user], after.get("users", {}).get(user, {})
        if "error" in a or "error" in b:
            out.append(Change(user, "build", a.get("error", "built"), b.get("error", "built")))
            continue
        for name in COMPARED:
            if a.get(name) != b.get(name):
                out.append(Change(user, name, a.get(name), b.get(name)))
    return out


def findings(diff: UpgradeDiff, hub_file: str) -> list[Finding]:
    """The changes that lose user data or break gateway mode, with their fixes."""
    out: list[Finding] = []
    renamed = [c for c in diff.changes if c.field == "pvc_name" and c.before and c.after]
    if renamed:
        pairs = "; ".join(f"{c.user}: {c.before} -> {c.after}" for c in renamed)
        out.append(
            Finding(
                check="upgrade-pvc-renamed",
                file=hub_file,
                key="singleuser.storage.dynamic.pvcNameTemplate",
                why=(
                    f"{diff.to_set} names users' home PVCs differently from {diff.from_set} "
                    f"(KubeSpawner {diff.after.get('kubespawner')} slug_scheme "
                    f"{diff.after.get('slug_scheme')!r}, KubeSpawner "
                    f"{diff.before.get('kubespawner')}: escape): {pairs}. KubeSpawner 7 looks "
                    "for the legacy name only at a server's first start after the upgrade, "
                    f"and forgets it once a running server is stopped ({KUBESPAWNER_937}); "
                    "with z2jh 3.x's claim-{username}{servername} template the lookup misses "
                    f"named servers ({Z2JH_3574}): users come back to an empty home."
                ),
                fix=(
                    "pin the old names before upgrading: hub.config.KubeSpawner.slug_scheme: "
                    "escape and singleuser.storage.dynamic.pvcNameTemplate: "
                    "claim-{username}{servername}"
                ),
            )
        )
    gateway = [
        c
        for c in diff.changes
        if c.field == "env"
        and any(
            k.startswith(("JUPYTER_GATEWAY_", "KERNEL_"))
            and (c.before or {}).get(k) != (c.after or {}).get(k)
            for k in set(c.before or {}) | set(c.after or {})
        )
    ]
    if gateway:
        out.append(
            Finding(
                check="upgrade-gateway-env-changed",
                file=hub_file,
                key="singleuser.profileList",
                why="the user server's gateway or kernel settings change: "
                + "; ".join(f"{c.user}: {c.before} -> {c.after}" for c in gateway),
                fix="set the gateway settings explicitly in the profile's environment",
            )
        )
    broken = [c for c in diff.changes if c.field == "build"]
    if broken:
        out.append(
            Finding(
                check="upgrade-spawn-fails",
                file=hub_file,
                key="(values)",
                why="the user pod cannot be built on one side: "
                + "; ".join(f"{c.user}: {c.before} -> {c.after}" for c in broken),
                fix="fix the values or extra config the new KubeSpawner refuses",
            )
        )
    return out


def _probe_request(deployment: Deployment, defaults: dict, usernames: list[str]) -> dict:
    values, _ = deployment.hub.merged()
    merged = deep_merge(defaults, values)
    hub = merged.get("hub") or {}
    extra = {k: v for k, v in (hub.get("extraConfig") or {}).items() if isinstance(v, str)}
    files = {
        spec["mountPath"]: str(spec["stringData"])
        for spec in (hub.get("extraFiles") or {}).values()
        if isinstance(spec, dict) and spec.get("mountPath") and "stringData" in spec
    }
    raw_env = hub.get("extraEnv") or {}
    hub_env = (
        {k: v for k, v in raw_env.items() if isinstance(v, str)}
        if isinstance(raw_env, dict)
        else {}
    )
    return {
        "mode": "names",
        "values": merged,
        "namespace": deployment.hub.namespace,
        "extra_config": extra,
        "files": files,
        "hub_env": hub_env,
        "usernames": usernames,
    }


def upgrade_diff(
    deployment: Deployment, to_set: str, from_set: str | None = None, progress=print
) -> UpgradeDiff:
    p = pins()
    from_set = from_set or p["from"]
    for name in (from_set, to_set):
        if name not in p["sets"]:
            raise ConfigError(
                f"--upgrade-to {name}: unknown version set; known: {', '.join(sorted(p['sets']))} "
                f"({UPGRADE_PINS.name})"
            )
    if deployment.hub is None:
        raise ConfigError("--upgrade-to needs the hub's values (--hub-values), or no values at all")
    diff = UpgradeDiff(from_set, to_set)
    for side, name in (("before", from_set), ("after", to_set)):
        spec = p["sets"][name]
        env = envs.ensure_python_env(
            "audit-tools" if spec["lock"] == "tools.lock" else f"audit-{name}",
            tools.AUDIT_DIR / spec["lock"],
            progress,
        )
        request = _probe_request(deployment, spec["defaults"], p["usernames"])
        setattr(diff, side, tools.run_probe(env, request))
    diff.changes = compare(diff.before, diff.after)
    return diff


def result(deployment: Deployment, diff: UpgradeDiff) -> AuditResult:
    p = pins()["sets"]
    hub_file = ", ".join(str(f) for f in deployment.hub.values_files) or "(set arguments)"
    checks = [
        CheckRun(
            name=f"build each sample user's default server with {p[diff.from_set]['describe']} "
            f"and with {p[diff.to_set]['describe']}, and compare pod and PVC names, volumes, "
            "image, resources, KERNEL_* and gateway settings",
            status="ran",
        )
    ]
    for c in diff.changes:
        checks.append(
            CheckRun(
                name=f"changes for {c.user}: {c.field}",
                status="ran",
                detail=f"{c.before} -> {c.after}",
            )
        )
    before, after = p[diff.from_set]["describe"], p[diff.to_set]["describe"]
    return AuditResult(
        deployment=f"{deployment.label}: upgrade {diff.from_set} -> {diff.to_set}",
        kubernetes_version="-",
        engines={
            "before": f"KubeSpawner {diff.before.get('kubespawner')} ({before})",
            "after": f"KubeSpawner {diff.after.get('kubespawner')} ({after})",
        },
        checks=checks,
        findings=findings(diff, hub_file),
        layers=deployment.layers(),
        assumptions=list(deployment.assumptions),
    )
