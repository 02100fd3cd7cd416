"""One audit: render, build, validate, judge; and say which checks ran and which could not."""

from __future__ import annotations

import copy
import io
import json
import re
import tarfile
from pathlib import Path

import yaml
from eg_harness.audit import checks, consumers, tools
from eg_harness.audit.deployment import Deployment, dotted
from eg_harness.audit.findings import AuditResult, CheckRun
from eg_harness.audit.render import K8sObject, helm_template
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.targets.kind.egdist import ensure_eg_dist

# z2jh 3.2.1's defaults (its values.yaml) for the keys probe.py maps onto KubeSpawner, used
# only when the chart itself is not available; with --z2jh-chart the chart's own file is read.
Z2JH_DEFAULTS = {
    "singleuser": {
        "cmd": "jupyterhub-singleuser",
        "image": {"name": "quay.io/jupyterhub/k8s-singleuser-sample", "tag": "3.2.1"},
        "memory": {"guarantee": "1G"},
        "startTimeout": 300,
        "uid": 1000,
        "fsGid": 100,
        "networkPolicy": {
            "enabled": True,
            "egressAllowRules": {"privateIPs": False, "nonPrivateIPs": True},
        },
    }
}


def audit(
    deployment: Deployment,
    kubernetes_version: str | None = None,
    z2jh_chart: str | None = None,
    fetch_z2jh: bool = False,
    progress=print,
) -> AuditResult:
    pins = tools.pins()
    version = kubernetes_version or pins["kubernetes_version"]
    if not re.fullmatch(r"v?1\.\d+(\.\d+)?", version):
        raise ConfigError(f"--kubernetes-version {version}: expected 1.NN, e.g. 1.35")
    version = version.lstrip("v")
    ctx = checks.Context(deployment)
    # Read every input first: an unreadable file is exit 2 before anything is fetched.
    if deployment.gateway:
        ctx.eg_values, ctx.eg_owner = deployment.gateway.merged()
    if deployment.hub:
        ctx.hub_values, ctx.hub_owner = deployment.hub.merged()
    env = tools.tool_env(progress)
    helm = tools.find_helm(env, progress)
    engines = {"helm": helm.describe()}
    runs: list[CheckRun] = []

    if deployment.gateway:
        chart = tools.eg_chart(env, progress)
        engines["enterprise-gateway chart"] = f"3.3.0 from the PyPI sdist (cached at {chart})"
        rendered = helm_template(helm, deployment.gateway, chart, version)
        ctx.eg_objects = rendered.objects
        runs.append(CheckRun(name="render EG's chart with helm template", status="ran"))
        if rendered.error:
            ctx.add(
                "chart-render-fails",
                ", ".join(str(f) for f in deployment.gateway.values_files) or "(set arguments)",
                "(values)",
                f"helm cannot render EG's chart with these values: {rendered.error}",
                "fix the values helm names.",
            )

    hub_chart = None
    if deployment.hub:
        hub_chart = tools.z2jh_chart(z2jh_chart, fetch_z2jh, helm, progress)
        defaults = _chart_values(hub_chart) if hub_chart else Z2JH_DEFAULTS
        if hub_chart:
            rendered = helm_template(helm, deployment.hub, hub_chart, version)
            ctx.hub_objects = rendered.objects
            engines["z2jh chart"] = str(hub_chart)
            runs.append(CheckRun(name="render z2jh's chart with helm template", status="ran"))
            if rendered.error:
                ctx.add(
                    "chart-render-fails",
                    ", ".join(str(f) for f in deployment.hub.values_files),
                    "(values)",
                    f"helm cannot render z2jh with these values (its values schema included): "
                    f"{rendered.error}",
                    "fix the values helm names.",
                )
        else:
            runs.append(
                CheckRun(
                    name="render z2jh's chart with helm template (values schema, hub, proxy, "
                    "network policy objects)",
                    status="not run",
                    detail="z2jh 3.2.1 is on no registry reachable offline; pass --z2jh-chart "
                    "PATH or --fetch-z2jh (online). Defaults of the keys KubeSpawner reads were "
                    "taken from z2jh 3.2.1's values instead.",
                )
            )
        ctx.hub_probe = _hub_probe(env, deployment, ctx.hub_values, defaults)
        engines["kubespawner"] = "6.2.0 with jupyterhub 4.0.2 (as z2jh 3.2.1's hub image)"
        engines["jupyter_server"] = "2.21.1 (parses the user pod's command line and env)"
        runs.append(
            CheckRun(
                name="build the user pods with KubeSpawner (every profile x choice, the extra "
                "config executed), check override keys against KubeSpawner's traits, render "
                "the profile form, parse each user server's gateway settings with "
                "jupyter_server",
                status="ran",
            )
        )

    try:
        root = ensure_eg_dist(progress).root
        ctx.consumers = consumers.from_eg_dist(root)
        runs.append(
            CheckRun(
                name="judge every KERNEL_* value a profile sets against each consumer EG hands "
                "it to (pod resources, Spark confs, run.sh's eval), read from "
                f"{consumers.TEMPLATE} and {consumers.LAUNCHER}",
                status="ran",
            )
        )
    except (TargetUnavailable, OSError) as exc:
        runs.append(
            CheckRun(
                name="judge KERNEL_* values against their consumers",
                status="not run",
                detail=f"EG's sdist could not be read ({exc}); check access to PyPI",
            )
        )
    for trap in checks.TRAPS:  # first: a trap's finding explains the schema errors it causes
        trap(ctx)
    _validate(env, ctx, version, runs)
    runs.append(
        CheckRun(
            name="traps: token, local images, override keys, gateway mode, Spark memory units, "
            "limits vs requests, launch timeouts, network policy, exposure without token",
            status="ran",
            detail="" if deployment.images_local else "images are pulled: local-image traps off",
        )
    )
    if deployment.gateway is None or deployment.hub is None:
        runs.append(
            CheckRun(
                name="checks across gateway and hub (gateway URL, token, timeouts, policy)",
                status="not run",
                detail="only one release was given",
            )
        )
    engines["kubernetes schemas"] = f"kubernetes-validate 1.37.0, strict, Kubernetes {version}"
    return AuditResult(
        deployment=deployment.label,
        kubernetes_version=version,
        engines=engines,
        checks=runs,
        findings=ctx.findings,
        layers=deployment.layers(),
        assumptions=list(deployment.assumptions),
        reproduce=deployment.reproduce(),
    )


def _chart_values(chart: Path) -> dict:
    if chart.is_dir():
        return yaml.safe_load((chart / "values.yaml").read_text()) or {}
    with tarfile.open(chart) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/values.yaml"))
        fh = tar.extractfile(member)
        return yaml.safe_load(io.TextIOWrapper(fh)) or {} if fh else {}


def _deep_merge(base: dict, new: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _hub_probe(env, deployment: Deployment, values: dict, defaults: dict) -> dict:
    merged = _deep_merge(defaults, values)
    hub = merged.get("hub") or {}
    extra = {k: v for k, v in (hub.get("extraConfig") or {}).items() if isinstance(v, str)}
    files = {}
    for spec in (hub.get("extraFiles") or {}).values():
        if isinstance(spec, dict) and spec.get("mountPath") and "stringData" in spec:
            files[spec["mountPath"]] = str(spec["stringData"])
    hub_env = {}
    raw_env = hub.get("extraEnv") or {}
    if isinstance(raw_env, dict):
        hub_env = {k: v for k, v in raw_env.items() if isinstance(v, str)}
    request = {
        "mode": "hub",
        "values": merged,
        "namespace": deployment.hub.namespace if deployment.hub else "jupyterhub",
        "extra_config": extra,
        "files": files,
        "hub_env": hub_env,
    }
    return tools.run_probe(env, request)


def _validate(env, ctx: checks.Context, version: str, runs: list[CheckRun]) -> None:
    groups = [
        ("gateway", ctx.eg_objects, ctx.eg_values, ctx.eg_key),
        ("hub", ctx.hub_objects + checks.user_pods(ctx), ctx.hub_values, ctx.hub_key),
    ]
    items, index = [], {}
    seen: dict[str, str] = {}  # canonical doc -> id: validated once, judged for every origin
    for _group, objects, values, keyf in groups:
        for obj in objects:
            canon = json.dumps(obj.doc, sort_keys=True, default=str)
            if canon in seen:
                index[seen[canon]].append((obj, values, keyf))
                continue
            oid = seen[canon] = str(len(items))
            items.append({"id": oid, "doc": obj.doc})
            index[oid] = [(obj, values, keyf)]
    if not items:
        return
    answer = tools.run_probe(env, {"mode": "validate", "version": version, "objects": items})
    if answer.get("error"):
        raise ConfigError(
            f"--kubernetes-version {version}: {answer['error']}; choose one of "
            f"{', '.join(answer.get('versions', []))}"
        )
    runs.append(
        CheckRun(
            name=f"validate {len(items)} objects against Kubernetes {version}'s schemas "
            "(strict: unknown fields are errors)",
            status="ran",
            detail=f"schemas of {answer['schema_version']}",
        )
    )
    for res in answer["results"]:
        for obj, values, keyf in index[res["id"]]:
            _judge(ctx, version, res, obj, values, keyf)


def _judge(ctx: checks.Context, version: str, res: dict, obj: K8sObject, values, keyf) -> None:
    """One object's schema verdict as findings (a user pod's carry its profile choices, so the
    same error in every choice of a profile is one finding listing them)."""
    if res.get("unknown_kind"):
        ctx.add(
            "unknown-kind",
            keyf(("?",))[0],
            obj.ref(),
            f"{res['unknown_kind']} does not exist in Kubernetes {version} "
            f"(from {obj.origin}); the install fails.",
            "use an apiVersion/kind this Kubernetes serves.",
            choices=obj.choices,
        )
        return
    for err in res["errors"]:
        path = tuple(err["path"])
        if any(
            claim[0] == obj.ref() and path[: len(claim[1])] == claim[1] for claim in ctx.claimed
        ):
            continue
        file, key = _owner_of_error(obj, path, err["message"], values, keyf)
        ctx.add(
            "schema-invalid",
            file,
            key,
            f"{obj.ref()} ({obj.origin}) at {dotted(path) or '(top)'}: {err['message']}; "
            "the API server rejects it.",
            "correct the value's type or the field's name (Kubernetes API reference).",
            choices=obj.choices,
        )


def _owner_of_error(obj: K8sObject, path, message, values, keyf) -> tuple[str, str]:
    unexpected = re.findall(r"'([^']+)' (?:was|were) unexpected", message)
    unexpected += re.findall(r"\('([^']+)'", message) if "unexpected" in message else []
    for name in unexpected:
        hits = [p for p in checks.find_value(values, name) if p and p[-1] == name]
        if hits:
            return keyf(hits[0])
    leaf = obj.doc
    try:
        for p in path:
            leaf = leaf[p]
    except (KeyError, IndexError, TypeError):
        leaf = None
    if leaf is not None and not isinstance(leaf, (dict, list)):
        hits = checks.find_value(values, leaf)
        if hits:
            return keyf(hits[0])
    return keyf(("?",))[0], f"(renders {obj.ref()} {dotted(path)})"
