"""The audit's engines, run inside the audit tool environment (clusters/audit/tools.lock).

This file is executed by that environment's Python as a script, never imported by the harness:
the harness's own pins do not carry KubeSpawner, JupyterHub 4, jupyter_server 2 or 108 MB of
Kubernetes schemas. It reads JSON requests on stdin, one per line, and writes one JSON answer
line on stdout for each; every request is answered by a child forked for it (_forked).

- ``validate``: every object against the strict JSON schemas of one Kubernetes version
  (kubernetes-validate's bundled schemas, every error rather than the first).
- ``hub``: the hub side of z2jh, with the real KubeSpawner: the chart's values for the keys z2jh
  maps onto KubeSpawner, then the deployment's extra config executed as z2jh executes it, then
  for each profile and choice the pod KubeSpawner would create (pre_spawn_hook,
  load_user_options, get_pod_manifest, modify_pod_hook, in JupyterHub's order), the override
  keys that are no trait and whether removing them changes that pod, the profile form rendered,
  and the user server's command line and environment parsed by jupyter_server's own
  ServerApp/GatewayClient in a clean subprocess (what gateway mode the server really gets).
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import logging
import os
import subprocess
import sys
import traceback

MAX_COMBINATIONS = 64

# jsonschema imports rfc3987_syntax, when installed, for its "iri" format checker, and that
# module builds 38 Lark grammars on import: about 1.5 s of CPU in every process that imports
# jsonschema (KubeSpawner's kubernetes_asyncio and jupyter_server's jupyter_events do). Formats
# are never asserted here (the schemas are validated without a format checker; jupyter_server
# only parses a command line), so the import is refused and jsonschema leaves that checker out.
sys.modules.setdefault("rfc3987_syntax", None)


# ---------------------------------------------------------------- validate


def _validate(request: dict) -> dict:
    import jsonschema
    from kubernetes_validate import utils as kv
    from referencing import Registry, Resource

    version = request["version"]
    if version.startswith("v"):
        version = version[1:]
    wanted = kv.major_minor(version)
    have = [v for v in kv.all_versions() if _mm(kv.major_minor(v)) <= _mm(wanted)]
    if not have or _mm(wanted) > _mm(kv.major_minor(kv.latest_version())):
        return {"error": f"no schemas for Kubernetes {wanted}", "versions": kv.all_versions()}
    schema_dir = f"v{have[-1]}-local-strict"
    defs = Resource.from_contents(
        kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    )
    results = []
    for item in request["objects"]:
        doc = item["doc"]
        api = doc.get("apiVersion") or ""
        kind = doc.get("kind") or ""
        api_slug = __import__("re").sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api)
        try:
            schema = kv.schema_contents(
                f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api_slug}.json", version
            )
        except (FileNotFoundError, OSError):
            results.append({"id": item["id"], "unknown_kind": f"{api} {kind}", "errors": []})
            continue
        registry = defs @ (Resource.from_contents(schema) @ Registry())
        validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
        errors = []
        for err in validator.iter_errors(doc):
            leaves = _leaf_errors(err)
            for leaf in leaves:
                errors.append({"path": list(leaf.absolute_path), "message": leaf.message})
        results.append({"id": item["id"], "errors": errors})
    return {"schema_version": have[-1], "results": results}


def _mm(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2])


def _leaf_errors(err):
    """The most specific errors under a oneOf/anyOf (the schema allows null everywhere)."""
    if not err.context:
        return [err]
    deepest = max(len(e.absolute_path) for e in err.context)
    best = [e for e in err.context if len(e.absolute_path) == deepest]
    if deepest <= len(err.absolute_path):
        return [err]
    out = []
    for e in best:
        out.extend(_leaf_errors(e))
    return out


# ---------------------------------------------------------------- hub


def _get(values: dict, dotted: str, default=None):
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            return default
        node = node[part]
    return node


# The values keys z2jh 3.2.1's hub config (files/hub/jupyterhub_config.py) sets on KubeSpawner,
# limited to those that shape the user pod. Without the chart this is the audit's reading of it;
# with the chart (--z2jh-chart) the chart's own values.yaml supplies the defaults.
Z2JH_KUBESPAWNER_KEYS = (
    ("cmd", "singleuser.cmd"),
    ("default_url", "singleuser.defaultUrl"),
    ("image_pull_policy", "singleuser.image.pullPolicy"),
    ("mem_limit", "singleuser.memory.limit"),
    ("mem_guarantee", "singleuser.memory.guarantee"),
    ("cpu_limit", "singleuser.cpu.limit"),
    ("cpu_guarantee", "singleuser.cpu.guarantee"),
    ("extra_resource_limits", "singleuser.extraResource.limits"),
    ("extra_resource_guarantees", "singleuser.extraResource.guarantees"),
    ("environment", "singleuser.extraEnv"),
    ("profile_list", "singleuser.profileList"),
    ("start_timeout", "singleuser.startTimeout"),
    ("uid", "singleuser.uid"),
    ("fs_gid", "singleuser.fsGid"),
    ("service_account", "singleuser.serviceAccountName"),
    ("node_selector", "singleuser.nodeSelector"),
    ("extra_labels", "singleuser.extraLabels"),
    ("extra_annotations", "singleuser.extraAnnotations"),
    ("extra_pod_config", "singleuser.extraPodConfig"),
    ("extra_containers", "singleuser.extraContainers"),
    ("init_containers", "singleuser.initContainers"),
    ("tolerations", "singleuser.extraTolerations"),
    ("lifecycle_hooks", "singleuser.lifecycleHooks"),
    ("volumes", "singleuser.storage.extraVolumes"),
    ("volume_mounts", "singleuser.storage.extraVolumeMounts"),
)


def _hub_config(values: dict, namespace: str):
    from traitlets.config import Config

    c = Config()
    for trait, key in Z2JH_KUBESPAWNER_KEYS:
        value = _get(values, key)
        if value is not None:
            setattr(c.KubeSpawner, trait, copy.deepcopy(value))
    name = _get(values, "singleuser.image.name")
    if name:
        tag = _get(values, "singleuser.image.tag")
        c.KubeSpawner.image = f"{name}:{tag}" if tag else name
    c.KubeSpawner.namespace = namespace
    return c


def _z2jh_module(values: dict):
    """The `z2jh` helper module the chart puts next to its hub config, for extra config."""
    import types

    mod = types.ModuleType("z2jh")

    def get_config(key, default=None):
        return copy.deepcopy(_get(values, key, default))

    def set_config_if_not_none(cparent, name, key):
        value = get_config(key)
        if value is not None:
            setattr(cparent, name, value)

    def get_name(name):
        return name

    def get_secret_value(key, default="never-explicitly-set"):
        return default

    mod.get_config = get_config
    mod.set_config_if_not_none = set_config_if_not_none
    mod.get_name = get_name
    mod.get_name_env = lambda name, suffix="": name.upper().replace("-", "_") + suffix
    mod.get_secret_value = get_secret_value
    return mod


def _relocating_open(files: dict):
    """open() for extra config: the chart's hub.extraFiles appear at their mountPath."""
    real_open = open

    def _open(path, mode="r", *args, **kwargs):
        key = os.fspath(path)
        if key in files and "r" in mode and "+" not in mode:
            data = files[key]
            return io.BytesIO(data.encode()) if "b" in mode else io.StringIO(data)
        return real_open(path, mode, *args, **kwargs)

    return _open


def _run_extra_config(c, values, extra_config, files, hub_env):
    errors = []
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in hub_env.items() if isinstance(v, str)})
    sys.modules["z2jh"] = _z2jh_module(values)
    try:
        for name, code in extra_config:
            namespace = {
                "c": c,
                "get_config": lambda: c,
                "open": _relocating_open(files),
                "__file__": "/usr/local/etc/jupyterhub/jupyterhub_config.py",
                "__name__": "__main__",
            }
            try:
                exec(compile(code, f"hub.extraConfig.{name}", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - reported as a finding
                errors.append(
                    {"name": name, "error": f"{type(exc).__name__}: {exc}", "trace": _tb(exc)}
                )
    finally:
        # extra config may read the hub's environment later (in hooks): keep hub_env set
        # for the builds, restore everything else.
        for key in list(os.environ):
            if key not in saved and key not in hub_env:
                del os.environ[key]
    return errors


def _tb(exc) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(lines[-3:])


class _User:
    def __init__(self, name):
        self.name = name
        self.id = 1
        self.url = f"/user/{name}/"
        self.escaped_name = name
        self.server = None
        self.orm_user = None
        self.spawners = {}


class _Hub:
    public_host = ""
    url = "http://hub:8081/hub/"
    base_url = "/hub/"
    api_url = "http://hub:8081/hub/api"


async def _build(
    config, user_options: dict, drop: tuple | None = None, username: str = "audit-user"
):
    """The pod KubeSpawner creates for these user_options, following JupyterHub's order."""
    from jupyterhub.utils import maybe_future
    from kubernetes_asyncio.client import ApiClient
    from kubespawner import KubeSpawner

    cfg = copy.deepcopy(config)
    spawner = KubeSpawner(config=cfg, _mock=True, user=_User(username), hub=_Hub())
    spawner.api_token = "audit-api-token"
    spawner.server = None
    spawner.user_options = dict(user_options)
    if drop is not None:
        spawner.profile_list = _without(spawner.profile_list, drop)
    if spawner.pre_spawn_hook:
        await maybe_future(spawner.pre_spawn_hook(spawner))
    await spawner.load_user_options()
    pod = await spawner.get_pod_manifest()
    if spawner.modify_pod_hook:
        pod = await maybe_future(spawner.modify_pod_hook(spawner, pod))
    return ApiClient().sanitize_for_serialization(pod), spawner


def _without(profile_list, drop):
    """profile_list without one override key: (profile index, path to the override, key)."""
    out = copy.deepcopy(profile_list)
    index, path, key = drop
    node = out[index]
    for part in path:
        node = node[part]
    node.pop(key, None)
    return out


def _override_places(profile: dict):
    """Every kubespawner_override in a profile, as (path inside the profile, override)."""
    if isinstance(profile.get("kubespawner_override"), dict):
        yield ("kubespawner_override",), profile["kubespawner_override"]
    for oname, option in (profile.get("profile_options") or {}).items():
        for cname, choice in (option.get("choices") or {}).items():
            if isinstance(choice.get("kubespawner_override"), dict):
                yield (
                    ("profile_options", oname, "choices", cname, "kubespawner_override"),
                    choice["kubespawner_override"],
                )
        unlisted = option.get("unlisted_choice") or {}
        if isinstance(unlisted.get("kubespawner_override"), dict):
            yield (
                ("profile_options", oname, "unlisted_choice", "kubespawner_override"),
                unlisted["kubespawner_override"],
            )


def _choice_sets(profile: dict):
    options = profile.get("profile_options") or {}
    axes = []
    for oname, option in options.items():
        keys = list((option.get("choices") or {}).keys())
        axes.append([(oname, k) for k in keys] or [(oname, None)])
    combos = list(itertools.islice(itertools.product(*axes), MAX_COMBINATIONS))
    return [{k: v for k, v in combo if v is not None} for combo in combos] or [{}]


def _parse_server(argv: list[str], env: dict) -> dict:
    """What jupyter_server makes of the user pod's command line and environment."""
    code = r"""
import hashlib, json, sys
sys.modules.setdefault("rfc3987_syntax", None)  # as in the probe: formats are not checked
out = {}
try:
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.gateway.gateway_client import GatewayClient
    app = ServerApp()
    app.parse_command_line(json.loads(sys.argv[1]))
    gc = GatewayClient.instance(parent=app)
    gc.init_connection_args()
    ws = app.config.get("GatewayWebSocketConnection", {}).get("kernel_ws_protocol", None)
    tok = gc.auth_token or ""
    out = {
        "gateway_enabled": gc.gateway_enabled,
        "url": gc.url,
        "auth_token_sha256": hashlib.sha256(tok.encode()).hexdigest() if tok else None,
        "request_timeout": gc.request_timeout,
        "connect_timeout": gc.connect_timeout,
        "launch_timeout_pad": gc.launch_timeout_pad,
        "kernel_launch_timeout": GatewayClient.KERNEL_LAUNCH_TIMEOUT,
        "kernel_ws_protocol": ws,
    }
except SystemExit as exc:
    out = {"error": f"the server refuses its command line (exit {exc.code})"}
except Exception as exc:
    out = {"error": f"{type(exc).__name__}: {exc}"}
print("@@PROBE@@" + json.dumps(out))
"""
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": "/tmp"}
    clean.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argv[1:])],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@PROBE@@"):
            result = json.loads(line[len("@@PROBE@@") :])
            if "error" in result and proc.stderr.strip():
                result["stderr"] = proc.stderr.strip().splitlines()[-1][:300]
            return result
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def _server_inputs(pod: dict):
    container = pod["spec"]["containers"][0]
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    env, from_refs = {}, {}
    for item in container.get("env") or []:
        if "value" in item and item["value"] is not None:
            env[item["name"]] = str(item["value"])
        elif item.get("valueFrom"):
            from_refs[item["name"]] = item["valueFrom"]
    return argv, env, from_refs


def _render_form(spawner) -> dict:
    try:
        html = spawner._render_options_form(spawner.profile_list)
        return {"ok": True, "chars": len(html)}
    except Exception as exc:  # noqa: BLE001 - reported as a finding
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def _hub(request: dict) -> dict:
    from kubespawner import KubeSpawner

    logging.disable(logging.CRITICAL)
    values = request["values"]
    config = _hub_config(values, request.get("namespace", "jupyterhub"))
    extra = sorted(request.get("extra_config", {}).items())
    errors = _run_extra_config(
        config, values, extra, request.get("files", {}), request.get("hub_env", {})
    )
    traits = sorted(KubeSpawner.class_trait_names())
    answer = {"traits": traits, "config_errors": errors, "profiles": []}
    if errors:
        return answer
    try:
        base_pod, base_spawner = await _build(config, {})
    except Exception as exc:  # noqa: BLE001
        answer["build_error"] = f"{type(exc).__name__}: {exc}"
        return answer
    answer["form"] = _render_form(base_spawner) if base_spawner.profile_list else None
    profiles = base_spawner.profile_list
    if callable(profiles):
        answer["profiles_callable"] = True
        profiles = []
    if not profiles:
        answer["default_pod"] = _with_server(base_pod)
        return answer
    trait_set = set(traits)
    for index, profile in enumerate(profiles):
        slug = profile.get("slug") or profile.get("display_name")
        entry = {"index": index, "slug": slug, "builds": [], "unknown_keys": []}
        for choices in _choice_sets(profile):
            options = {"profile": slug, **choices}
            try:
                pod, _ = await _build(config, options)
                entry["builds"].append({"choices": choices, "pod": _with_server(pod)})
            except Exception as exc:  # noqa: BLE001 - a profile that cannot spawn
                entry["builds"].append(
                    {"choices": choices, "error": f"{type(exc).__name__}: {exc}"}
                )
        for path, override in _override_places(profile):
            for key in override:
                if key in trait_set:
                    continue
                choices = _choices_for(path, profile)
                options = {"profile": slug, **choices}
                try:
                    with_key, _ = await _build(config, options)
                    without, _ = await _build(config, options, drop=(index, path, key))
                    effect = _canon(with_key) != _canon(without)
                except Exception as exc:  # noqa: BLE001
                    effect = None
                    entry.setdefault("errors", []).append(f"{key}: {type(exc).__name__}: {exc}")
                entry["unknown_keys"].append({"path": list(path), "key": key, "effect": effect})
        answer["profiles"].append(entry)
    return answer


def _choices_for(path, profile):
    """user_options that select the choice an override belongs to (its option's default else)."""
    if len(path) >= 4 and path[0] == "profile_options" and path[2] == "choices":
        return {path[1]: path[3]}
    return {}


def _canon(pod: dict) -> str:
    return json.dumps(pod, sort_keys=True, default=str)


_SERVER_CACHE: dict = {}


def _with_server(pod: dict) -> dict:
    argv, env, refs = _server_inputs(pod)
    relevant = {
        k: v for k, v in env.items() if k.startswith(("JUPYTER_GATEWAY_", "KERNEL_LAUNCH_TIMEOUT"))
    }
    key = _canon({"argv": argv, "env": relevant})
    if key not in _SERVER_CACHE:
        _SERVER_CACHE[key] = _parse_server(argv, relevant)
    return {
        "manifest": pod,
        "argv": argv,
        "env_names": sorted(env),
        "kernel_env": {k: v for k, v in env.items() if k.startswith("KERNEL_")},
        "env_from": refs,
        "server": _SERVER_CACHE[key],
    }


# KubeSpawner loads a kube-config when it is created, though building a pod manifest never
# talks to a cluster: a stub that points nowhere keeps the probe offline and away from the
# user's own clusters.
_STUB_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


def _offline_kubeconfig() -> None:
    import tempfile

    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    os.environ.pop("KUBERNETES_SERVICE_PORT", None)
    fd, path = tempfile.mkstemp(prefix="egh-audit-kubeconfig-")
    with os.fdopen(fd, "w") as fh:
        fh.write(_STUB_KUBECONFIG)
    os.environ["KUBECONFIG"] = path
    import atexit

    atexit.register(os.unlink, path)


def _storage_config(c, values: dict) -> None:
    """z2jh's jupyterhub_config.py for the user's home volume (singleuser.storage) and its
    hub.config pass-through, as both z2jh 3.2.1 and 4.x write them."""
    if _get(values, "singleuser.storage.type") == "dynamic":
        template = _get(values, "singleuser.storage.dynamic.pvcNameTemplate")
        if template:
            c.KubeSpawner.pvc_name_template = template
        volume = (
            _get(values, "singleuser.storage.dynamic.volumeNameTemplate") or "volume-{user_server}"
        )
        c.KubeSpawner.storage_pvc_ensure = True
        # z2jh 3.x names the claim by the template itself (KubeSpawner 6 expands it per user);
        # z2jh 4.x by "{pvc_name}", KubeSpawner 7's resolved name (legacy lookup included).
        import kubespawner

        claim = "{pvc_name}" if int(kubespawner.__version__.split(".")[0]) >= 7 else template
        c.KubeSpawner.volumes = [
            {"name": volume, "persistentVolumeClaim": {"claimName": claim}}
        ] + list(_get(values, "singleuser.storage.extraVolumes") or [])
        c.KubeSpawner.volume_mounts = [
            {
                "mountPath": _get(values, "singleuser.storage.homeMountPath") or "/home/jovyan",
                "name": volume,
            }
        ] + list(_get(values, "singleuser.storage.extraVolumeMounts") or [])
    for section, settings in (_get(values, "hub.config") or {}).items():
        if isinstance(settings, dict):
            for trait, value in settings.items():
                setattr(c[section], trait, copy.deepcopy(value))


async def _names(request: dict) -> dict:
    """For each user name: the default server's pod as this KubeSpawner builds it, with the
    names and values users would see change across an upgrade (pod, PVC, volumes, env, image,
    resources, the user server's gateway settings)."""
    import kubespawner
    from kubespawner import KubeSpawner

    logging.disable(logging.CRITICAL)
    values = request["values"]
    config = _hub_config(values, request.get("namespace", "jupyterhub"))
    _storage_config(config, values)
    errors = _run_extra_config(
        config,
        values,
        sorted(request.get("extra_config", {}).items()),
        request.get("files", {}),
        request.get("hub_env", {}),
    )
    answer = {
        "kubespawner": kubespawner.__version__,
        "slug_scheme": str(getattr(KubeSpawner, "slug_scheme", None).default_value)
        if hasattr(KubeSpawner, "slug_scheme")
        else "escape (KubeSpawner < 7 has no slug_scheme)",
        "config_errors": errors,
        "users": {},
    }
    if errors:
        return answer
    for name in request["usernames"]:
        try:
            pod, spawner = await _build(config, {}, username=name)
        except Exception as exc:  # noqa: BLE001 - reported per user
            answer["users"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        container = pod["spec"]["containers"][0]
        env = {
            e["name"]: e.get("value")
            for e in container.get("env") or []
            if e["name"].startswith(("KERNEL_", "JUPYTER_GATEWAY_", "JUPYTERHUB_USER"))
        }
        answer["users"][name] = {
            "pod_name": pod["metadata"]["name"],
            "pvc_name": getattr(spawner, "pvc_name", None),
            "claims": [
                v["persistentVolumeClaim"]["claimName"]
                for v in pod["spec"].get("volumes") or []
                if v.get("persistentVolumeClaim")
            ],
            "volumes": sorted(v["name"] for v in pod["spec"].get("volumes") or []),
            "image": container.get("image"),
            "resources": container.get("resources") or {},
            "env": env,
            "labels": {
                k: v
                for k, v in (pod["metadata"].get("labels") or {}).items()
                if k.startswith("hub.jupyter.org/")
            },
        }
    return answer


def _answer(request: dict) -> dict:
    mode = request.get("mode")
    if mode == "names":
        return asyncio.run(_names(request))
    if mode == "validate":
        return _validate(request)
    if mode == "hub":
        return asyncio.run(_hub(request))
    if mode == "versions":
        from kubernetes_validate import utils as kv

        return {"versions": kv.all_versions()}
    return {"error": f"unknown mode {mode!r}"}


# What each mode imports: loaded once, by the serving process, before its first request of
# that mode (most of a request's cost is these imports).
_ENGINES = {
    "validate": ("jsonschema", "referencing", "kubernetes_validate.utils"),
    "hub": ("kubespawner", "jupyterhub.utils", "kubernetes_asyncio.client", "traitlets.config"),
    "names": ("kubespawner", "jupyterhub.utils", "kubernetes_asyncio.client", "traitlets.config"),
}


def _forked(request: dict) -> str:
    """The answer to one request, computed in a child forked for it.

    A hub request executes the deployment's extra config, which may change os.environ,
    sys.modules or KubeSpawner itself: in a child of its own nothing of it reaches the next
    request, exactly as when every request had a process of its own, without paying the
    imports again.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer, write, and leave without running the parent's atexit
        os.close(read)
        os.dup2(2, 1)  # a print() in extra config must not reach the answer stream
        try:
            text = json.dumps(_answer(request), default=str)
        except BaseException as exc:  # noqa: BLE001 - reported to the harness
            traceback.print_exc()
            text = json.dumps({"probe_error": f"{type(exc).__name__}: {exc}"})
        with os.fdopen(write, "w") as fh:
            fh.write(text)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        text = fh.read()
    _, status = os.waitpid(pid, 0)
    return text or json.dumps({"probe_error": f"the request's process ended ({status=})"})


def main() -> int:
    """One JSON request per line on stdin, one JSON answer per line on stdout, until EOF.

    The harness keeps one such process for all the audits it runs (tools.run_probe); it ends
    when its stdin closes, so it cannot outlive the harness process that started it.
    """
    import importlib

    _offline_kubeconfig()
    try:
        for line in sys.stdin:
            request = json.loads(line)
            for module in _ENGINES.get(request.get("mode"), ()):
                importlib.import_module(module)
            sys.stdout.write(_forked(request) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: leave quietly
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
