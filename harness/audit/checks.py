"""The traps users hit with this deployment, judged on what the real engines produced.

Every check reads rendered objects (helm's output), the user pods KubeSpawner built and what
jupyter_server made of them (probe.py), never the values alone where a rendering exists; the
values and their owners only name the file and key a finding belongs to.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlparse

from eg_harness.audit import consumers as kernel_consumers
from eg_harness.audit.deployment import Deployment, dotted, owner_of
from eg_harness.audit.findings import Finding
from eg_harness.audit.render import K8sObject
from kubernetes.utils.quantity import parse_quantity

WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "Pod"}
# Spark's JavaUtils.byteStringAs: digits and an optional b/k/m/g/t/p unit (with optional b),
# case-insensitive; Kubernetes units such as 2Gi are refused.
SPARK_SIZE = re.compile(r"^([0-9]+)([kmgtp]b?|b)?$", re.IGNORECASE)
SPARK_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
PRIVATE_NETS = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
# kind's default pod subnet: where EG's pod IP comes from after the service's DNAT.
KIND_POD_NET = ipaddress.ip_network("10.244.0.0/16")


@dataclass
class Context:
    deployment: Deployment
    eg_values: dict = field(default_factory=dict)
    eg_owner: dict = field(default_factory=dict)
    hub_values: dict = field(default_factory=dict)
    hub_owner: dict = field(default_factory=dict)
    eg_objects: list[K8sObject] = field(default_factory=list)
    hub_objects: list[K8sObject] = field(default_factory=list)
    hub_probe: dict | None = None
    findings: list[Finding] = field(default_factory=list)
    claimed: set = field(default_factory=set)  # (object ref, path) explained by a trap
    by_choice: dict = field(default_factory=dict)  # (check, file, key, why, fix) -> Finding
    # KERNEL_* variable -> its consumers, read from EG's launcher and pod template
    # (eg_harness.audit.consumers); empty when EG's sdist could not be read.
    consumers: dict = field(default_factory=dict)

    def add(self, check, file, key, why, fix, claim=None, choices=None) -> None:
        """Record a finding once. A per-choice finding (``choices``: the user_options that
        reached it) writes CHOICES in ``why`` where the choices go: findings that differ only
        by their choices become one, listing them all."""
        file = file or "(chart default)"
        if choices is not None and CHOICES in why:
            ident = (check, file, key, why, fix)
            f = self.by_choice.get(ident)
            if f is None:
                f = Finding(check=check, file=file, key=key, why=why, fix=fix)
                self.by_choice[ident] = f
                self.findings.append(f)
            chosen = {str(k): str(v) for k, v in choices.items()}
            if chosen not in f.choices:
                f.choices.append(chosen)
            f.why = why.replace(CHOICES, choices_text(f.choices))
        else:
            f = Finding(check=check, file=file, key=key, why=why, fix=fix)
            if f not in self.findings:
                self.findings.append(f)
        if claim:
            self.claimed.add(claim)

    # -- naming the owner of a value
    def eg_key(self, path: tuple) -> tuple[str, str]:
        return owner_of(self.eg_owner, path) or _release_files(self.deployment.gateway), dotted(
            path
        )

    def hub_key(self, path: tuple) -> tuple[str, str]:
        return owner_of(self.hub_owner, path) or _release_files(self.deployment.hub), dotted(path)


CHOICES = "\0choices\0"  # where a per-choice finding's text names its choices


def choices_text(choices: list[dict[str, str]]) -> str:
    """e.g. "2 choices: memory=2Gi, cpu=1; memory=2Gi, cpu=2" (profile options as chosen)."""

    def one(c: dict[str, str]) -> str:
        return ", ".join(f"{k}={v}" for k, v in c.items()) or "its defaults"

    words = [one(c) for c in choices]
    if choices == [{}]:
        return "no profile options"
    if len(words) == 1:
        return f"choices {words[0]}"
    return f"{len(words)} choices: " + "; ".join(words)


def _release_files(release) -> str:
    if release is None:
        return "(none)"
    return ", ".join(str(f) for f in release.values_files) or "(chart defaults)"


def find_value(values, target, prefix=()) -> list[tuple]:
    """Key paths in `values` whose leaf equals `target` (same type), or whose name is it."""
    out = []
    if isinstance(values, dict):
        for k, v in values.items():
            path = (*prefix, str(k))
            if isinstance(target, str) and str(k) == target:
                out.append(path)
            out.extend(find_value(v, target, path))
    elif isinstance(values, list):
        for i, v in enumerate(values):
            out.extend(find_value(v, target, (*prefix, i)))
    elif type(values) is type(target) and values == target:
        out.append(prefix)
    return out


# ------------------------------------------------------------------ containers


def pod_specs(obj: K8sObject):
    doc = obj.doc
    if obj.kind == "Pod":
        return [("spec",), doc.get("spec") or {}]
    spec = (doc.get("spec") or {}).get("template", {}).get("spec") or {}
    return [("spec", "template", "spec"), spec]


def containers(obj: K8sObject):
    if obj.kind not in WORKLOAD_KINDS:
        return
    prefix, spec = pod_specs(obj)
    for field_name in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(field_name) or []):
            if isinstance(c, dict):
                yield (*prefix, field_name, i), c


def env_value(container: dict, name: str):
    for item in container.get("env") or []:
        if isinstance(item, dict) and item.get("name") == name:
            return True, item.get("value")
    return False, None


def eg_deployment(ctx: Context) -> tuple[K8sObject, dict] | None:
    for obj in ctx.eg_objects:
        if obj.kind == "Deployment":
            for _, c in containers(obj):
                if env_value(c, "EG_PORT")[0]:
                    return obj, c
    return None


# ------------------------------------------------------------------ gateway token


def check_auth_token(ctx: Context) -> None:
    found = eg_deployment(ctx)
    if not found:
        return
    obj, container = found
    present, value = env_value(container, "EG_AUTH_TOKEN")
    intended = ctx.eg_values.get("authToken")
    file, key = ctx.eg_key(("authToken",))
    if not present or value in ("", None):
        exposed = _exposure(ctx)
        if exposed:
            ctx.add(
                "gateway-exposed-without-token",
                file,
                key,
                f"authToken is empty, so EG runs without EG_AUTH_TOKEN while {exposed}: anyone "
                "who reaches it can start kernels and run code as the gateway's users.",
                "set a token as a string (--set-string authToken=<token>, or quoted in the "
                "values file) and give the same token to the user servers "
                "(JUPYTER_GATEWAY_AUTH_TOKEN).",
            )
        else:
            ctx.add(
                "auth-token-empty",
                file,
                key,
                "authToken is empty, so the chart leaves EG_AUTH_TOKEN out and EG accepts every "
                "request from any pod in the cluster.",
                "set a token as a string: --set-string authToken=<token>.",
            )
        return
    if not isinstance(value, str) or (intended is not None and value != str(intended)):
        shown = type(value).__name__ if not isinstance(value, str) else "a different string"
        ctx.add(
            "auth-token-not-string",
            file,
            key,
            f"the chart writes authToken unquoted into EG_AUTH_TOKEN, and this token renders as "
            f"{shown} (YAML reads it that way): the API server rejects the Deployment (env "
            "values must be strings), or EG gets a token the clients do not send.",
            "pass it with --set-string authToken=<token> and use a token with letters (or "
            "quote-safe characters only); never --set for a token of digits or true/false.",
        )
        # The same unquoted value reaches the image puller's KIP_AUTH_TOKEN: one cause, one
        # finding, so the schema errors it causes are claimed by it.
        for o in ctx.eg_objects:
            for cpath, c in containers(o):
                for i, e in enumerate(c.get("env") or []):
                    if e.get("name") in ("EG_AUTH_TOKEN", "KIP_AUTH_TOKEN"):
                        ctx.claimed.add((o.ref(), (*cpath, "env", i, "value")))


def _container_path(obj, container):
    for path, c in containers(obj):
        if c is container:
            return path
    return ()


def _exposure(ctx: Context) -> str:
    parts = []
    for obj in ctx.eg_objects:
        spec = obj.doc.get("spec") or {}
        if obj.kind == "Service" and spec.get("type") in ("NodePort", "LoadBalancer"):
            parts.append(f"Service {obj.name} is a {spec['type']} (reachable from outside)")
        if obj.kind == "Service" and spec.get("externalIPs"):
            parts.append(f"Service {obj.name} has externalIPs")
        if obj.kind == "Ingress":
            parts.append(f"Ingress {obj.name} publishes it")
    return "; ".join(parts)


# ------------------------------------------------------------------ images


def _image_tag(image: str) -> str | None:
    if "@" in image:
        return "digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def check_images(ctx: Context) -> None:
    if not ctx.deployment.images_local:
        return
    for objects, values, keyf in (
        (ctx.eg_objects, ctx.eg_values, ctx.eg_key),
        (ctx.hub_objects + user_pods(ctx), ctx.hub_values, ctx.hub_key),
    ):
        for obj in objects:
            for path, c in containers(obj):
                _check_container_image(ctx, obj, path, c, values, keyf)
    for build in gateway_builds(ctx):
        for name in ("KERNEL_IMAGE", "KERNEL_EXECUTOR_IMAGE"):
            image = build["pod"]["kernel_env"].get(name)
            if image and _image_tag(image) in (None, "latest"):
                file, key = _locate(ctx.hub_values, image, keyf=ctx.hub_key)
                ctx.add(
                    "image-latest",
                    file,
                    key,
                    f"{name}={image} is untagged or :latest, so the kernel pod (EG's template "
                    "sets no pull policy) gets imagePullPolicy Always and the kubelet pulls it "
                    "from a registry instead of using the image loaded into the nodes.",
                    "tag the image (a content-hash tag) and load that tag into the cluster.",
                )
    if any(o.kind == "DaemonSet" and o.name == "kernel-image-puller" for o in ctx.eg_objects):
        file, key = ctx.eg_key(("kip", "enabled"))
        ctx.add(
            "image-puller-with-local-images",
            file,
            key,
            "kip.enabled starts the kernel-image-puller DaemonSet, which pulls every kernel "
            "image from a registry through the node's container runtime socket "
            "(kip.criSocket, /var/run/docker.sock by default); with images loaded into the "
            "nodes there is nothing to pull and the puller fails on every node.",
            "set kip.enabled: false where images are loaded locally (kind load).",
        )


def _check_container_image(ctx, obj, path, c, values, keyf) -> None:
    image = c.get("image")
    if not isinstance(image, str):
        return
    policy = c.get("imagePullPolicy")
    tag = _image_tag(image)
    if policy == "Always":
        file, key = _locate(values, "Always", keyf, near=image)
        ctx.add(
            "pull-policy-always",
            file,
            key,
            f"{obj.ref()} container {c.get('name')} ({image}) has imagePullPolicy Always: the "
            "kubelet pulls from the registry even though the image was loaded into the nodes, "
            "and the pod never starts (ErrImagePull).",
            "set IfNotPresent (or Never) for images loaded with `kind load`.",
        )
    elif tag in (None, "latest") and policy in (None, ""):
        file, key = _locate(values, image, keyf)
        ctx.add(
            "image-latest",
            file,
            key,
            f"{obj.ref()} container {c.get('name')} uses {image}: an untagged or :latest image "
            "defaults to imagePullPolicy Always, so the kubelet pulls it from a registry "
            "instead of using the image loaded into the nodes.",
            "use a fixed tag (a content-hash tag) and load that tag into the cluster.",
        )


def _locate(values, target, keyf, near=None) -> tuple[str, str]:
    paths = find_value(values, target)
    if near is not None and len(paths) > 1:
        close = [p for p in paths if find_value(_get(values, p[:-1]), near)]
        paths = close or paths
    if paths:
        return keyf(paths[0])
    return keyf(("?",))[0], f"(a chart default rendering {target!r})"


def _get(values, path):
    node = values
    for p in path:
        node = node[p]
    return node


# ------------------------------------------------------------------ hub: profiles, gateway mode


def user_pods(ctx: Context) -> list[K8sObject]:
    pods = []
    probe = ctx.hub_probe or {}
    if probe.get("default_pod"):
        pods.append(K8sObject("KubeSpawner: default", probe["default_pod"]["manifest"]))
    for prof in probe.get("profiles", []):
        for build in prof["builds"]:
            if "pod" in build:
                pods.append(
                    K8sObject(
                        f"KubeSpawner: profile {prof['slug']} {CHOICES}",
                        build["pod"]["manifest"],
                        choices=build["choices"],
                    )
                )
    return pods


def is_gateway_profile(ctx: Context, prof: dict) -> bool:
    if prof["slug"] in ctx.deployment.gateway_profiles:
        return True
    if ctx.deployment.gateway_profiles:
        return False
    profile = _profile_values(ctx, prof["index"])
    text = repr(profile.get("kubespawner_override", {})).lower()
    return "gateway" in text or "gateway" in str(prof["slug"]).lower()


def _profile_values(ctx, index) -> dict:
    plist = (ctx.hub_values.get("singleuser") or {}).get("profileList") or []
    return plist[index] if index < len(plist) and isinstance(plist[index], dict) else {}


def gateway_builds(ctx: Context):
    for prof in (ctx.hub_probe or {}).get("profiles", []):
        if is_gateway_profile(ctx, prof):
            for build in prof["builds"]:
                if "pod" in build:
                    yield {"profile": prof, **build}


def check_hub_config(ctx: Context) -> None:
    probe = ctx.hub_probe
    if probe is None:
        return
    for err in probe.get("config_errors", []):
        file, key = ctx.hub_key(("hub", "extraConfig", err["name"]))
        ctx.add(
            "extra-config-fails",
            file,
            key,
            f"the hub executes this extra config at start-up and it raises {err['error']}: "
            "the hub pod crash-loops.",
            "fix the error (the audit ran it against KubeSpawner 6.2.0 and JupyterHub 4.0.2).",
        )
    if probe.get("build_error"):
        file, key = ctx.hub_key(("singleuser",))
        ctx.add(
            "profile-cannot-spawn",
            file,
            key,
            f"KubeSpawner cannot build a user pod: {probe['build_error']}.",
            "fix the singleuser values or the extra config it names.",
        )
    form = probe.get("form")
    if form and not form.get("ok"):
        paths = find_value(ctx.hub_values, "extraFiles")
        file, key = ctx.hub_key(("hub", "extraFiles")) if paths else ctx.hub_key(("hub",))
        ctx.add(
            "profile-form-broken",
            file,
            key,
            f"KubeSpawner cannot render the profile form: {form['error']}; the spawn page "
            "fails for every user.",
            "fix the Jinja template of the form (it is rendered with profile_list).",
        )
    for prof in probe.get("profiles", []):
        for build in prof["builds"]:
            if "error" in build:
                file, key = ctx.hub_key(("singleuser", "profileList", prof["index"]))
                ctx.add(
                    "profile-cannot-spawn",
                    file,
                    key,
                    f"profile {prof['slug']} with {CHOICES} cannot spawn: "
                    f"KubeSpawner raises {build['error']}.",
                    "fix that profile's kubespawner_override (a dict value for a key that is "
                    "no trait fails like this) or its options.",
                    choices=build["choices"],
                )
        for item in prof.get("unknown_keys", []):
            path = ("singleuser", "profileList", prof["index"], *item["path"], item["key"])
            file, key = ctx.hub_key(path)
            if item["effect"] is False:
                ctx.add(
                    "override-ignored",
                    file,
                    key,
                    f"{item['key']!r} is not a KubeSpawner trait: KubeSpawner sets it silently "
                    "and the user pod is byte-for-byte the same without it (nothing, no extra "
                    "config either, reads it).",
                    "use a KubeSpawner trait name (e.g. environment, image, cpu_limit, "
                    "mem_limit), or add the extra config that consumes this key.",
                )


def check_gateway_mode(ctx: Context) -> None:
    probe = ctx.hub_probe
    if not probe or not probe.get("profiles"):
        return
    eg = _eg_service(ctx)
    token = _eg_token(ctx)
    seen = False
    for build in gateway_builds(ctx):
        seen = True
        prof = build["profile"]
        server = build["pod"]["server"]
        file, key = ctx.hub_key(
            ("singleuser", "profileList", prof["index"], "kubespawner_override")
        )
        if server.get("error"):
            ctx.add(
                "user-server-refuses-config",
                file,
                key,
                f"jupyter_server refuses the user pod's command line/environment for profile "
                f"{prof['slug']}: {server['error']}; the user server exits at start.",
                "fix the flags the extra config adds (jupyter_server 2.x spelling, e.g. "
                "--gateway-url=..., --GatewayClient.request_timeout=...).",
            )
            continue
        if not server.get("gateway_enabled"):
            ctx.add(
                "gateway-mode-not-reached",
                file,
                key,
                f"the user server of profile {prof['slug']} has no gateway URL in its command "
                "line or environment, so it starts kernels locally in the user pod, not on EG "
                "(a kubespawner_override key alone is set and ignored).",
                "keep the override and the hub.extraConfig that turns it into --gateway-url "
                "(or set JUPYTER_GATEWAY_URL in the override's environment).",
            )
            continue
        if eg and not _url_matches(server.get("url") or "", eg):
            ctx.add(
                "gateway-url-wrong",
                file,
                key,
                f"the user server's gateway URL {server.get('url')} is not EG's service "
                f"({eg['host']}:{eg['port']} in namespace {eg['namespace']}): kernel starts fail "
                "with connection errors.",
                f"use http://{eg['host']}.{eg['namespace']}.svc.cluster.local:{eg['port']}.",
            )
        if token is not None:
            want = hashlib.sha256(token.encode()).hexdigest()
            if server.get("auth_token_sha256") != want:
                missing = server.get("auth_token_sha256") is None
                refs = build["pod"].get("env_from", {})
                if missing and "JUPYTER_GATEWAY_AUTH_TOKEN" in refs:
                    continue  # from a Secret: its content cannot be checked offline
                ctx.add(
                    "gateway-token-not-sent",
                    file,
                    key,
                    f"EG requires a token but the user server of profile {prof['slug']} "
                    + ("sends none" if missing else "sends a different one")
                    + ": every kernel request gets 401.",
                    "give the user server EG's token (JUPYTER_GATEWAY_AUTH_TOKEN in its "
                    "environment, e.g. from hub.extraEnv through the extra config, or a Secret).",
                )
    if not seen and ctx.deployment.gateway is not None:
        file, key = ctx.hub_key(("singleuser", "profileList"))
        ctx.add(
            "gateway-mode-not-reached",
            file,
            key,
            "no profile sends its user servers to the gateway (no gateway override found), so "
            "every kernel runs in the user pod.",
            "add the jupyter-gateway profile with its jupyter_gateway_url override and extra "
            "config.",
        )


def _eg_service(ctx: Context) -> dict | None:
    for obj in ctx.eg_objects:
        if obj.kind == "Service":
            ports = (obj.doc.get("spec") or {}).get("ports") or []
            http = next((p for p in ports if p.get("name") == "http"), ports[0] if ports else {})
            ns = (obj.doc.get("metadata") or {}).get("namespace") or (
                ctx.deployment.gateway.namespace if ctx.deployment.gateway else ""
            )
            return {"host": obj.name, "port": http.get("port"), "namespace": ns, "http": http}
    return None


def _url_matches(url: str, eg: dict) -> bool:
    u = urlparse(url)
    host = u.hostname or ""
    names = {
        eg["host"],
        f"{eg['host']}.{eg['namespace']}",
        f"{eg['host']}.{eg['namespace']}.svc",
        f"{eg['host']}.{eg['namespace']}.svc.cluster.local",
    }
    port = u.port or (443 if u.scheme == "https" else 80)
    if host == eg["host"]:
        return False  # the short name resolves only inside EG's namespace
    return host in names and port == eg["port"]


def _eg_token(ctx: Context) -> str | None:
    found = eg_deployment(ctx)
    if not found:
        return None
    present, value = env_value(found[1], "EG_AUTH_TOKEN")
    return value if present and isinstance(value, str) and value else None


# ------------------------------------------------------------------ resources


def spark_bytes(text: str) -> int | None:
    m = SPARK_SIZE.match(text.strip())
    if not m:
        return None
    unit = (m.group(2) or "").lower().rstrip("b")
    return int(m.group(1)) * SPARK_UNITS[unit]


def check_kernel_resources(ctx: Context) -> None:
    for build in gateway_builds(ctx):
        env = build["pod"]["kernel_env"]
        prof = build["profile"]
        for name in ("KERNEL_MEMORY", "KERNEL_MEMORY_LIMIT"):
            value = env.get(name)
            if value is not None and spark_bytes(value) is None:
                file, key = _env_owner(ctx, prof, name, value)
                ctx.add(
                    "spark-memory-units",
                    file,
                    key,
                    f"{name}={value} (profile {prof['slug']}, {CHOICES}) becomes "
                    "spark.driver.memory/spark.executor.memory, and Spark only takes sizes like "
                    "512m or 2g: the driver fails to start (e.g. 'Invalid maximum heap size').",
                    "write Spark sizes (1g, 2g, 512m), not Kubernetes units (Gi, Mi).",
                    choices=build["choices"],
                )
        _limit_pair(ctx, build, "KERNEL_MEMORY", "KERNEL_MEMORY_LIMIT", spark_bytes)
        _limit_pair(ctx, build, "KERNEL_CPUS", "KERNEL_CPUS_LIMIT", _cpu)


def check_kernel_value_grammar(ctx: Context) -> None:
    """Every KERNEL_* value a profile choice sets, against every consumer EG hands it to. The
    user server sends its KERNEL_* environment with every kernel it starts, so each consumer of
    each kernelspec the gateway offers meets the value. A Spark size that Spark refuses is
    spark-memory-units' finding already; this one adds what the others do with the value."""
    for build in gateway_builds(ctx):
        prof = build["profile"]
        for name, value in sorted(build["pod"]["kernel_env"].items()):
            took, refused = kernel_consumers.judge(name, str(value), ctx.consumers)
            if name in ("KERNEL_MEMORY", "KERNEL_MEMORY_LIMIT") and spark_bytes(str(value)) is None:
                refused = [r for r in refused if not r[0].startswith("spark.")]
            if not refused:
                continue
            file, key = _env_owner(ctx, prof, name, value)
            rejects = "; ".join(f"{who} rejects it: {why}" for who, why in refused)
            took = [t for t in took if "(run.sh's eval)" not in t]  # implied by the conf's own
            accepts = f", while {', '.join(took)} accept it" if took else ""
            ctx.add(
                "kernel-value-grammar",
                file,
                key,
                f"{name}={value} (profile {prof['slug']}, {CHOICES}): {rejects}{accepts}. The "
                "user server sends it with every kernel it starts, so a kernel of a rejecting "
                "kernelspec does not start.",
                "pick a spelling every consumer takes (memory: 1G or 1024M are valid for "
                "Kubernetes and Spark alike, 1g/1Gi each for one only; CPUs: whole numbers, "
                "Spark's cores are ints), or set the value per kernelspec instead of in the "
                "user server's environment.",
                choices=build["choices"],
            )


# What users type into a free-text resource choice: each spelling some consumer takes.
FREE_TEXT_SAMPLES = ("1g", "1G", "1Gi", "2GB", "1024", "1.5g", "512m", "512Mi", "500m", "2", "1.5")
FREE_TEXT_REGEX = {"KERNEL_MEMORY": "^[0-9]+[MG]$", "KERNEL_MEMORY_LIMIT": "^[0-9]+[MG]$"}


def check_free_text_grammar(ctx: Context) -> None:
    """A free-text choice (unlisted_choice) that writes '{value}' into a KERNEL_* variable: the
    spellings its validation_regex lets through (KubeSpawner: re.match), judged by every
    consumer of the variable as for listed choices."""
    plist = (ctx.hub_values.get("singleuser") or {}).get("profileList") or []
    for index, profile in enumerate(plist):
        if not isinstance(profile, dict):
            continue
        for oname, option in (profile.get("profile_options") or {}).items():
            unlisted = (option or {}).get("unlisted_choice") or {}
            if not unlisted.get("enabled"):
                continue
            env = (unlisted.get("kubespawner_override") or {}).get("environment") or {}
            regex = unlisted.get("validation_regex")
            for name, template in env.items():
                if "{value}" not in str(template) or name not in ctx.consumers:
                    continue
                bad = []
                for sample in FREE_TEXT_SAMPLES:
                    value = str(template).replace("{value}", sample)
                    if regex and not re.match(regex, sample):
                        continue
                    _, refused = kernel_consumers.judge(name, value, ctx.consumers)
                    if refused:
                        bad.append(f"{sample!r} ({'; '.join(who for who, _ in refused)})")
                if not bad:
                    continue
                file, key = ctx.hub_key(
                    (
                        "singleuser",
                        "profileList",
                        index,
                        "profile_options",
                        oname,
                        "unlisted_choice",
                    )
                )
                guard = f"its validation_regex {regex!r}" if regex else "no validation_regex"
                suggest = FREE_TEXT_REGEX.get(name, "^[0-9]+$")
                ctx.add(
                    "free-text-grammar",
                    file,
                    key,
                    f"the free-text choice of {oname!r} writes {name} with {guard}, so users "
                    f"can enter values a consumer refuses: {', '.join(bad)}. A kernel of the "
                    "refusing kernelspec then fails to start, long after the form took the value.",
                    f"set unlisted_choice.validation_regex to the spellings every consumer "
                    f"takes, e.g. {suggest!r}.",
                )


def _cpu(text: str):
    try:
        return parse_quantity(text)
    except (ValueError, TypeError):
        return None


def _limit_pair(ctx, build, req_name, lim_name, parse) -> None:
    env = build["pod"]["kernel_env"]
    req, lim = env.get(req_name), env.get(lim_name)
    if req is None or lim is None:
        return
    r, li = parse(req), parse(lim)
    if r is not None and li is not None and li < r:
        prof = build["profile"]
        file, key = _env_owner(ctx, prof, lim_name, lim)
        ctx.add(
            "limit-below-request",
            file,
            key,
            f"{lim_name}={lim} is below {req_name}={req} (profile {prof['slug']}, {CHOICES}): "
            "Kubernetes rejects a kernel pod whose limit is below its request, and EG applies "
            "the limit to the Spark driver after the request.",
            f"make {lim_name} at least {req_name}.",
            choices=build["choices"],
        )


def _env_owner(ctx, prof, name, value) -> tuple[str, str]:
    profile = _profile_values(ctx, prof["index"])
    for path in find_value(profile, value):
        if path and path[-1] == name:
            return ctx.hub_key(("singleuser", "profileList", prof["index"], *path))
    for path in find_value(ctx.hub_values, value):
        if path and path[-1] == name:
            return ctx.hub_key(path)
    return ctx.hub_key(("singleuser", "profileList", prof["index"]))


def check_pod_resources(ctx: Context) -> None:
    groups = (
        (ctx.eg_objects, ctx.eg_values, ctx.eg_key),
        (ctx.hub_objects + user_pods(ctx), ctx.hub_values, ctx.hub_key),
    )
    for objects, values, keyf in groups:
        for obj in objects:
            for path, c in containers(obj):
                res = c.get("resources") or {}
                if not isinstance(res, dict):
                    continue
                req, lim = res.get("requests") or {}, res.get("limits") or {}
                parsed: dict = {}
                for kind, table in (("requests", req), ("limits", lim)):
                    if not isinstance(table, dict):
                        continue
                    for rname, q in table.items():
                        try:
                            parsed[(kind, rname)] = parse_quantity(q)
                        except (ValueError, TypeError):
                            file, key = _locate(values, q, keyf)
                            ctx.add(
                                "invalid-quantity",
                                file,
                                key,
                                f"{obj.ref()} container {c.get('name')}: {kind}.{rname}={q!r} "
                                "is not a Kubernetes quantity; the API server rejects the pod.",
                                "use Kubernetes units: 2Gi, 512Mi, 500m (CPU), 1.",
                                claim=(obj.ref(), (*path, "resources", kind, rname)),
                            )
                for rname in {r for k, r in parsed if k == "requests"}:
                    r = parsed.get(("requests", rname))
                    li = parsed.get(("limits", rname))
                    if r is not None and li is not None and Decimal(li) < Decimal(r):
                        file, key = _locate(values, lim[rname], keyf)
                        ctx.add(
                            "limit-below-request",
                            file,
                            key,
                            f"{obj.ref()} container {c.get('name')}: limits.{rname}="
                            f"{lim[rname]} is below requests.{rname}={req[rname]}; the API "
                            "server rejects the pod.",
                            f"make the {rname} limit at least the request.",
                        )


# ------------------------------------------------------------------ timeouts


def check_timeouts(ctx: Context) -> None:
    found = eg_deployment(ctx)
    if not found:
        return
    _, container = found
    present, value = env_value(container, "EG_KERNEL_LAUNCH_TIMEOUT")
    file, key = ctx.eg_key(("kernel", "launchTimeout"))
    try:
        chart_timeout = int(str(value)) if present else 30
    except ValueError:
        ctx.add(
            "launch-timeout-invalid",
            file,
            key,
            f"kernel.launchTimeout renders EG_KERNEL_LAUNCH_TIMEOUT={value!r}, not a whole "
            "number of seconds: EG fails to start.",
            "set kernel.launchTimeout to an integer (seconds).",
        )
        return
    for build in gateway_builds(ctx):
        server = build["pod"]["server"]
        sent = server.get("kernel_launch_timeout")
        if sent is None:
            continue
        prof = build["profile"]
        if sent < chart_timeout:
            hfile, hkey = ctx.hub_key(
                ("singleuser", "profileList", prof["index"], "kubespawner_override")
            )
            ctx.add(
                "launch-timeout-mismatch",
                hfile,
                hkey,
                f"the user server of profile {prof['slug']} sends KERNEL_LAUNCH_TIMEOUT={sent} "
                f"(jupyter_server: GatewayClient.request_timeout={server.get('request_timeout')} "
                f"minus its pad), which overrides EG's kernel.launchTimeout={chart_timeout} "
                f"({file}): kernels that need {sent}-{chart_timeout} s (image pulls, Spark "
                "drivers) are given up early.",
                f"set GatewayClient.request_timeout to at least {chart_timeout + 2} s (the seed "
                "uses 600) or lower kernel.launchTimeout.",
            )


# ------------------------------------------------------------------ network policy


def check_network_policy(ctx: Context) -> None:
    if ctx.deployment.hub is None or ctx.deployment.gateway is None:
        return
    eg = _eg_service(ctx)
    found = eg_deployment(ctx)
    if not eg or not found:
        return
    pod_labels = ((found[0].doc["spec"].get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    port = (eg.get("http") or {}).get("targetPort", eg["port"])
    ns_labels = {"kubernetes.io/metadata.name": eg["namespace"]}
    policy = _singleuser_policy(ctx)
    if policy is None:
        return
    if any(_rule_allows(rule, ns_labels, pod_labels, port) for rule in policy):
        return
    file, key = ctx.hub_key(("singleuser", "networkPolicy"))
    ctx.add(
        "network-policy-blocks-gateway",
        file,
        key,
        "z2jh's singleuser NetworkPolicy (enabled by default in 3.2.1) allows user pods only "
        "non-private IPs and DNS; EG's pods in namespace "
        f"{eg['namespace']} are private cluster IPs on port {port}, so every kernel request "
        "from a user server times out where the cluster enforces NetworkPolicy.",
        "add a singleuser.networkPolicy.egress rule to EG's namespace and pods (namespaceSelector "
        f"kubernetes.io/metadata.name: {eg['namespace']}, podSelector on EG's labels, port "
        f"{port}) or set egressAllowRules.privateIPs: true.",
    )


def _singleuser_policy(ctx: Context) -> list | None:
    """The user pods' egress rules: the chart's rendered policy, else z2jh's from the values."""
    for obj in ctx.hub_objects:
        if obj.kind == "NetworkPolicy" and obj.name.endswith("singleuser"):
            spec = obj.doc.get("spec") or {}
            if "Egress" not in (spec.get("policyTypes") or []):
                return None
            return spec.get("egress") or []
    np = (ctx.hub_values.get("singleuser") or {}).get("networkPolicy") or {}
    if np.get("enabled", True) is False:
        return None
    allow = np.get("egressAllowRules") or {}
    rules = list(np.get("egress") or [])
    if allow.get("privateIPs", False):
        rules.append({"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]})
    return rules


def _rule_allows(rule: dict, ns_labels: dict, pod_labels: dict, port) -> bool:
    if not isinstance(rule, dict):
        return False
    ports = rule.get("ports")
    if ports and not any(
        p.get("port") in (None, port, "http") and p.get("protocol", "TCP") == "TCP"
        for p in ports
        if isinstance(p, dict)
    ):
        return False
    peers = rule.get("to")
    if not peers:
        return True
    for peer in peers:
        if not isinstance(peer, dict):
            continue
        if "ipBlock" in peer:
            if _ipblock_allows(peer["ipBlock"]):
                return True
            continue
        ns_sel = peer.get("namespaceSelector")
        pod_sel = peer.get("podSelector")
        if ns_sel is None and pod_sel is not None:
            continue  # same namespace as the user pods: not EG's
        if _selects(ns_sel or {}, ns_labels) and _selects(pod_sel or {}, pod_labels):
            return True
    return False


def _ipblock_allows(block: dict) -> bool:
    try:
        net = ipaddress.ip_network(block.get("cidr", ""), strict=False)
    except ValueError:
        return False
    if net.version != 4 or not KIND_POD_NET.subnet_of(net):
        return False
    for ex in block.get("except") or []:
        try:
            if ipaddress.ip_network(ex, strict=False).overlaps(KIND_POD_NET):
                return False
        except ValueError:
            continue
    return True


def _selects(selector: dict, labels: dict) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, vals = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


TRAPS = (
    check_auth_token,
    check_images,
    check_hub_config,
    check_gateway_mode,
    check_kernel_resources,
    check_kernel_value_grammar,
    check_free_text_grammar,
    check_pod_resources,
    check_timeouts,
    check_network_policy,
)
