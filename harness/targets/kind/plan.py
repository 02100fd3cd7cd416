"""The kind target as data: a plan of typed steps built from settings, run by executor.py.

Every step says what it runs (argv), which phase it belongs to, how long it may take, what it
creates and how to undo that. `--dry-run` prints this same plan, so what an engineer reads is
what the executor would do; the unit tests check its properties (every creation has an undo,
every step a bound, no `:latest`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from eg_harness.runtime import secrets
from eg_harness.targets.kind import tools
from eg_harness.targets.kind.images import Image
from eg_harness.targets.kind.pins import (
    EG_VALUES,
    HUB_EXTRA_CONFIG,
    HUB_PROFILE_FORM,
    HUB_VALUES,
    KIND_CONFIG_TEMPLATE,
    RUN_LABEL,
    Pins,
)
from eg_harness.targets.kind.values import Overlay, gateway_overlay, hub_overlay


@dataclass(frozen=True)
class Undo:
    argv: tuple[str, ...]
    timeout: float
    # Removed with the cluster: skipped when this run also deletes the cluster it created.
    inside_cluster: bool = True

    def describe(self, step: Step) -> str:
        if self.argv:
            return "$ " + shlex.join(self.argv)
        return f"remove {step.path}" if step.path else "stop the process"


# The executor's own undos (no command): delete the step's file, stop the step's process.
REMOVE_FILE = Undo((), 5.0, inside_cluster=False)
STOP_PROCESS = Undo((), 10.0, inside_cluster=False)


@dataclass(frozen=True)
class Step:
    """One thing the executor does. `kind` is run (a command), write (a file), http (wait for
    an endpoint to answer) or background (a long-lived command, e.g. a port-forward)."""

    phase: str
    title: str
    kind: str = "run"
    argv: tuple[str, ...] = ()
    timeout: float = 0.0
    creates: str | None = None
    undo: Undo | None = None
    # A command whose success means the step is already done (an image already built/loaded).
    skip_if: tuple[str, ...] | None = None
    # write: the file and its content; http: the URL and the header that proves the token.
    path: Path | None = None
    content: str = ""
    mode: int = 0o644
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def command_line(self) -> str:
        return shlex.join(self.argv)


@dataclass
class KindSettings:
    """What one run decides before planning: names, ports, tokens, reuse and keep."""

    run_id: str
    run_dir: Path
    cluster: str
    reuse: bool
    keep: bool
    gateway_token: str
    hub_token: str
    gateway_host_port: int
    hub_host_port: int

    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def context(self) -> str:
        return f"kind-{self.cluster}"


@dataclass
class Plan:
    settings: KindSettings
    steps: list[Step]
    images: list[Image]
    overlays: dict[str, Overlay]
    notes: list[str]
    gateway_url: str
    hub_url: str
    namespaces: list[str]
    releases: dict[str, str]  # release -> namespace
    values_files: tuple[Path, ...] = (EG_VALUES, HUB_VALUES, HUB_EXTRA_CONFIG, HUB_PROFILE_FORM)

    def render(self) -> str:
        """The whole plan as text, tokens redacted: what --dry-run prints."""
        s = self.settings
        out = [
            f"# eg-harness kind plan for run {s.run_id}",
            f"# cluster: {s.cluster} ({'reused' if s.reuse else 'created by this run'}"
            f"{', kept afterwards' if s.keep else ', deleted at teardown'})",
            f"# gateway: {self.gateway_url}   hub: {self.hub_url}",
            "# images (content-hash tags):",
            *[f"#   {i.ref}  <- {i.context}" for i in self.images],
            *[f"# note: {n}" for n in self.notes],
            "",
        ]
        for number, step in enumerate(self.steps, 1):
            head = f"[{number:02d}] {step.phase}: {step.title}"
            if step.kind == "write":
                out.append(f"{head}\n     write {step.path} (mode {step.mode:o}):")
                out += [f"       | {line}" for line in step.content.splitlines()]
            elif step.kind == "http":
                out.append(f"{head}\n     wait for GET {step.url} to answer 200")
            else:
                out.append(f"{head}\n     $ {step.command_line()}")
            if step.timeout:
                out.append(f"     bound: {step.timeout:.0f}s")
            if step.skip_if:
                out.append(f"     skipped if: $ {shlex.join(step.skip_if)}")
            if step.creates:
                out.append(f"     creates: {step.creates}")
            if step.undo:
                out.append(f"     undo: {step.undo.describe(step)}")
        out += ["", "# the deployment's files passed to helm (overlays above come after them):"]
        for path in self.values_files:
            out.append(f"--- {path}")
            out += [f"  | {line}" for line in path.read_text().splitlines()]
        return secrets.redact("\n".join(out)) + "\n"


def render_kind_config(pins: Pins, s: KindSettings) -> str:
    template = jinja2.Template(KIND_CONFIG_TEMPLATE.read_text(), undefined=jinja2.StrictUndefined)
    mappings = [
        {
            "what": "Enterprise Gateway",
            "node_port": pins.eg["node_port"],
            "host_port": s.gateway_host_port,
        },
        {
            "what": "JupyterHub proxy",
            "node_port": pins.hub["node_port"],
            "host_port": s.hub_host_port,
        },
    ]
    return (
        template.render(
            cluster_name=s.cluster,
            node_image=pins.node_image,
            run_id=s.run_id,
            port_mappings=mappings,
        )
        + "\n"
    )


def _load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def build_plan(pins: Pins, s: KindSettings, images: list[Image], eg_chart: Path) -> Plan:
    docker, kind, kubectl, helm = (tools.argv0(t) for t in tools.TOOLS)
    kube = ("--kubeconfig", str(s.kubeconfig), "--context", s.context)
    helm_kube = ("--kubeconfig", str(s.kubeconfig), "--kube-context", s.context)
    by_name = {i.name: i for i in images}
    eg, hub = pins.eg, pins.hub
    node = f"{s.cluster}-control-plane"
    steps: list[Step] = []
    notes: list[str] = []

    def t(name: str) -> float:
        return pins.timeout(name)

    # --- files of this run ----------------------------------------------------------------
    eg_base = _load_yaml(EG_VALUES)
    hub_base = _load_yaml(HUB_VALUES)
    eg_over = gateway_overlay(
        token=s.gateway_token,
        kernelspecs_ref=by_name["kernelspecs"].ref,
        node_port=None if s.reuse else eg["node_port"],
        base=eg_base,
    )
    hub_over, opened = hub_overlay(
        api_token=s.hub_token,
        gateway_token=s.gateway_token,
        singleuser_ref=by_name["singleuser"].ref,
        node_port=None if s.reuse else hub["node_port"],
        base=hub_base,
        eg_namespace=eg["namespace"],
    )
    if opened:
        notes.append(
            "z2jh's default single-user network policy blocks egress to the gateway's "
            "ClusterIP; this run adds an egress rule for it (singleuser.networkPolicy.egress), "
            "and the seed's install would need the same rule"
        )
    eg_over_path = s.run_dir / "enterprise-gateway-overlay.yaml"
    hub_over_path = s.run_dir / "jupyterhub-overlay.yaml"
    for path, overlay in ((eg_over_path, eg_over), (hub_over_path, hub_over)):
        steps.append(
            Step(
                "files",
                f"write the {overlay.name}",
                kind="write",
                path=path,
                content=overlay.render(),
                mode=0o600,
                creates=f"file {path.name}",
                undo=REMOVE_FILE,
            )
        )

    # --- images ---------------------------------------------------------------------------
    for image in images:
        argv = [
            docker,
            "build",
            "--tag",
            image.ref,
            "--label",
            f"eg-harness.content-hash={image.digest}",
        ]
        for key, value in image.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        steps.append(
            Step(
                "images",
                f"build {image.ref}",
                argv=(*argv, str(image.context)),
                timeout=t("image_build"),
                skip_if=(docker, "image", "inspect", "--format", "{{.Id}}", image.ref),
            )
        )
    # --- cluster --------------------------------------------------------------------------
    if s.reuse:
        steps.append(
            Step(
                "cluster",
                f"reuse kind cluster {s.cluster}: write its kubeconfig",
                argv=(
                    kind,
                    "export",
                    "kubeconfig",
                    "--name",
                    s.cluster,
                    "--kubeconfig",
                    str(s.kubeconfig),
                ),
                timeout=t("namespace"),
                creates=f"file {s.kubeconfig.name}",
                path=s.kubeconfig,
                undo=REMOVE_FILE,
            )
        )
    else:
        config_path = s.run_dir / "kind-config.yaml"
        steps.append(
            Step(
                "files",
                "write the kind cluster config",
                kind="write",
                path=config_path,
                content=render_kind_config(pins, s),
                creates=f"file {config_path.name}",
                undo=REMOVE_FILE,
            )
        )
        steps.append(
            Step(
                "cluster",
                f"create kind cluster {s.cluster} ({pins.node_image.split('@')[0]})",
                argv=(
                    kind,
                    "create",
                    "cluster",
                    "--name",
                    s.cluster,
                    "--config",
                    str(config_path),
                    "--kubeconfig",
                    str(s.kubeconfig),
                    "--wait",
                    f"{int(t('cluster_create') * 0.8)}s",
                ),
                timeout=t("cluster_create"),
                creates=f"kind cluster {s.cluster} (node label {RUN_LABEL}={s.run_id})",
                undo=Undo(
                    (
                        kind,
                        "delete",
                        "cluster",
                        "--name",
                        s.cluster,
                        "--kubeconfig",
                        str(s.kubeconfig),
                    ),
                    t("cluster_delete"),
                    inside_cluster=False,
                ),
            )
        )

    for image in images:
        steps.append(
            Step(
                "image load",
                f"load {image.ref} into {node}",
                argv=(kind, "load", "docker-image", image.ref, "--name", s.cluster),
                timeout=t("image_load"),
                skip_if=(docker, "exec", node, "crictl", "inspecti", image.ref),
            )
        )

    # --- namespaces and releases ----------------------------------------------------------
    releases = {eg["release"]: eg["namespace"], hub["release"]: hub["namespace"]}
    for ns in releases.values():
        steps.append(
            Step(
                f"namespace {ns}",
                f"create namespace {ns} labelled with the run id",
                argv=(kubectl, *kube, "create", "namespace", ns),
                timeout=t("namespace"),
                creates=f"namespace {ns}",
                undo=Undo(
                    (
                        kubectl,
                        *kube,
                        "delete",
                        "namespace",
                        ns,
                        "--wait=true",
                        f"--timeout={int(t('namespace_delete'))}s",
                    ),
                    t("namespace_delete") + 30,
                ),
            )
        )
        steps.append(
            Step(
                f"namespace {ns}",
                f"label namespace {ns}",
                argv=(kubectl, *kube, "label", "namespace", ns, f"{RUN_LABEL}={s.run_id}"),
                timeout=t("namespace"),
            )
        )
    helm_wait = int(t("helm_release"))
    steps.append(
        Step(
            f"helm {eg['release']}",
            f"install Enterprise Gateway {eg['version']} from its own chart",
            argv=(
                helm,
                "upgrade",
                "--install",
                eg["release"],
                str(eg_chart),
                *helm_kube,
                "--namespace",
                eg["namespace"],
                "--values",
                str(EG_VALUES),
                "--values",
                str(eg_over_path),
                "--wait",
                f"--timeout={helm_wait}s",
            ),
            timeout=helm_wait + 60,
            creates=f"helm release {eg['release']} in {eg['namespace']}",
            undo=Undo(
                (
                    helm,
                    "uninstall",
                    eg["release"],
                    *helm_kube,
                    "--namespace",
                    eg["namespace"],
                    "--wait",
                    f"--timeout={int(t('helm_uninstall'))}s",
                ),
                t("helm_uninstall") + 30,
            ),
        )
    )
    steps.append(
        Step(
            f"rollout {eg['deployment']}",
            "wait for the gateway to roll out",
            argv=(
                kubectl,
                *kube,
                "rollout",
                "status",
                f"deployment/{eg['deployment']}",
                "--namespace",
                eg["namespace"],
                f"--timeout={int(t('rollout'))}s",
            ),
            timeout=t("rollout") + 30,
        )
    )
    steps.append(
        Step(
            f"helm {hub['release']}",
            f"install JupyterHub (z2jh {hub['version']}) with the seed's profile",
            argv=(
                helm,
                "upgrade",
                "--install",
                hub["release"],
                hub["chart"],
                "--repo",
                hub["repo"],
                "--version",
                hub["version"],
                *helm_kube,
                "--namespace",
                hub["namespace"],
                "--values",
                str(HUB_VALUES),
                "--values",
                str(hub_over_path),
                "--set-file",
                f"hub.extraConfig.jupyter_gateway_config\\.py={HUB_EXTRA_CONFIG}",
                "--set-file",
                f"hub.extraFiles.jupyter_gateway_form.stringData={HUB_PROFILE_FORM}",
                "--wait",
                f"--timeout={helm_wait}s",
            ),
            timeout=helm_wait + 60,
            creates=f"helm release {hub['release']} in {hub['namespace']}",
            undo=Undo(
                (
                    helm,
                    "uninstall",
                    hub["release"],
                    *helm_kube,
                    "--namespace",
                    hub["namespace"],
                    "--wait",
                    f"--timeout={int(t('helm_uninstall'))}s",
                ),
                t("helm_uninstall") + 30,
            ),
        )
    )
    for deployment in hub["deployments"]:
        steps.append(
            Step(
                f"rollout {deployment}",
                f"wait for the hub's {deployment} to roll out",
                argv=(
                    kubectl,
                    *kube,
                    "rollout",
                    "status",
                    f"deployment/{deployment}",
                    "--namespace",
                    hub["namespace"],
                    f"--timeout={int(t('rollout'))}s",
                ),
                timeout=t("rollout") + 30,
            )
        )

    # --- endpoints ------------------------------------------------------------------------
    gateway_url = f"http://127.0.0.1:{s.gateway_host_port}"
    hub_url = f"http://127.0.0.1:{s.hub_host_port}"
    if s.reuse:
        for what, ns, svc, local, remote in (
            ("gateway", eg["namespace"], eg["service"], s.gateway_host_port, 8888),
            ("hub", hub["namespace"], hub["service"], s.hub_host_port, 80),
        ):
            steps.append(
                Step(
                    "endpoints",
                    f"port-forward the {what} to 127.0.0.1:{local}",
                    kind="background",
                    argv=(
                        kubectl,
                        *kube,
                        "port-forward",
                        "--namespace",
                        ns,
                        "--address",
                        "127.0.0.1",
                        f"service/{svc}",
                        f"{local}:{remote}",
                    ),
                    creates=f"port-forward to {what}",
                    timeout=t("endpoint"),
                    undo=STOP_PROCESS,
                )
            )
    steps.append(
        Step(
            "endpoints",
            "the gateway answers with the run's token",
            kind="http",
            url=f"{gateway_url}/api",
            headers={"Authorization": f"token {s.gateway_token}"},
            timeout=t("endpoint"),
        )
    )
    steps.append(
        Step(
            "endpoints",
            "the hub answers through its proxy",
            kind="http",
            url=f"{hub_url}/hub/api/",
            timeout=t("endpoint"),
        )
    )
    return Plan(
        settings=s,
        steps=steps,
        images=images,
        overlays={"gateway": eg_over, "hub": hub_over},
        notes=notes,
        gateway_url=gateway_url,
        hub_url=hub_url,
        namespaces=list(releases.values()),
        releases=releases,
    )
