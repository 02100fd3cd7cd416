"""The target a run points at, as one typed record, and the one place its options are declared.

A run's target used to travel as loose options: `eg-harness run` declared them, turned them back
into pytest arguments, the pytest plugin declared them again, the fixture branched on the kind to
pick the ones each provider takes, and `repeat`, `soak`, `bench` and the upgrade's child run each
encoded them once more. Here each option is one row of OPTIONS (its flag, help and old
spellings) beside one field of TargetSpec; every command adds the rows it takes with
`add_arguments`, the plugin with `add_pytest_options`, and a child run is `to_args()`. A provider
is one entry of PROVIDERS; its constructor names the fields it takes (`make_target` passes those),
so a new provider is a new entry, not a branch in each command. A kind that `eg-harness upgrade`
can upgrade names the class it brings up at release A in the same entry (`upgrade`), and
`make_target(spec, upgrade=True)` hands that one back the same way.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eg_harness import resources
from eg_harness.errors import ConfigError
from eg_harness.runtime.runid import new_run_id
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

if TYPE_CHECKING:
    from eg_harness.targets.base import Target


@dataclass(frozen=True)
class Provider:
    """One kind of target: its class ("module:Class", imported only when chosen: the cluster
    providers pull in heavy dependencies) and what it is, for --target's help. `upgrade` is the
    class `eg-harness upgrade` brings up at release A and upgrades to B ("module:Class": one
    with an ability a step of eg_harness.upgrade.journey asks for); None: the kind cannot be
    upgraded by the harness."""

    path: str
    about: str
    upgrade: str | None = None


# The order is the one `--target` lists; the first is the default.
PROVIDERS: dict[str, Provider] = {
    "local": Provider(
        "eg_harness.targets.local.target:LocalTarget",
        "a stack of its own",
        # its components stopped and started at B (ComponentControl)
        upgrade="eg_harness.targets.local.target:LocalTarget",
    ),
    "existing": Provider(
        "eg_harness.targets.existing.target:ExistingTarget",
        "the deployment --target-config describes",
    ),
    "kind": Provider("eg_harness.targets.kind.target:KindTarget", "a kind cluster built here"),
    "node": Provider(
        "eg_harness.targets.node.target:NodeTarget",
        "a single-node Kubernetes built here",
        # EG's chart and images at release A, upgraded by helm (ChartUpgrade)
        upgrade="eg_harness.targets.node.upgrade:NodeUpgradeTarget",
    ),
}
KINDS = tuple(PROVIDERS)
UPGRADABLE = tuple(kind for kind, entry in PROVIDERS.items() if entry.upgrade)


def unknown_kind(kind: str) -> ConfigError:
    return ConfigError(f"unknown target {kind!r}: choose one of {', '.join(KINDS)}")


def provider(kind: str, *, upgrade: bool = False) -> type[Target]:
    """The class of target `kind` (ConfigError naming the choices for an unknown one); with
    `upgrade`, the class `eg-harness upgrade` brings up at release A (ConfigError for a kind
    the harness cannot upgrade)."""
    if kind not in PROVIDERS:
        raise unknown_kind(kind)
    path = PROVIDERS[kind].path
    if upgrade:
        path = PROVIDERS[kind].upgrade
        if path is None:
            raise ConfigError(
                f"--target {kind}: eg-harness upgrade cannot upgrade it; choose one of "
                f"{', '.join(UPGRADABLE)}"
            )
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


class TargetSpec(BaseModel):
    """Which target, configured how, reporting where: what a command line or a pytest session
    says about its target. The order of the fields is the order of `to_args()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = KINDS[0]
    config_path: str | None = None  # an existing deployment's YAML
    run_id: str | None = None  # None: a new time-stamped one (`named()`)
    report_dir: Path | None = None  # None: reports/<run id> (`named()`)
    faults: tuple[str, ...] = ()  # seeded faults (eg_harness.targets.faults), by name
    allow_destructive: bool | None = None  # None: the target's own configuration decides
    kind_cluster: str | None = None  # kind: reuse this cluster
    keep_cluster: bool = False  # kind: keep the cluster afterwards
    z2jh_chart: str | None = None  # node: the hub from this z2jh chart (directory or .tgz)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in PROVIDERS:
            raise unknown_kind(kind)  # a ConfigError passes pydantic unwrapped: one line, exit 2
        return kind

    @model_validator(mode="after")
    def _chart_for_node(self) -> TargetSpec:
        if self.z2jh_chart is not None and self.kind != "node":
            raise ConfigError(
                f"--z2jh-chart is for --target node (the hub it installs is the node "
                f"cluster's); drop it or use --target node, not {self.kind}"
            )
        return self

    # -- where a spec comes from -----------------------------------------------------------
    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TargetSpec:
        """The spec a command's parsed arguments give; an option the command does not take
        keeps its default (`bench-ws` always stands up a local stack)."""
        given: dict[str, Any] = {}
        for opt in OPTIONS:
            value = getattr(args, opt.dest, None)
            if value is not None:
                given[opt.field] = value
        return cls(**given)

    @classmethod
    def from_pytest_config(cls, config: Any) -> TargetSpec:
        """The spec a pytest session's options give (`config` is a pytest.Config: only its
        `getoption` is used, so the library stays free of pytest)."""
        given: dict[str, Any] = {}
        for opt in OPTIONS:
            value = config.getoption(opt.dest, None)
            if value is not None:
                given[opt.field] = value
        return cls(**given)

    # -- where a spec goes -------------------------------------------------------------------
    def to_args(self) -> list[str]:
        """The options that give this spec again, for `eg-harness run` and pytest alike (both
        take the same spellings). The kind always (a child pytest must not take it from the
        environment); other options only when they differ from their defaults."""
        out: list[str] = []
        for opt in OPTIONS:
            value = getattr(self, opt.field)
            if value is None or value is False:
                continue
            if value is True:
                out.append(opt.flag)
            elif isinstance(value, tuple):
                for item in value:
                    out += [opt.flag, item]
            else:
                out += [opt.flag, str(value)]
        return out

    def to_pytest_args(self) -> list[str]:
        """The plugin's options for this spec (the same spellings as the command line)."""
        return self.to_args()

    def named(self, suffix: str | None = None) -> TargetSpec:
        """This spec with its run id and report dir decided: a new run id (ending `-suffix`,
        e.g. a phase, when given and the id was not) and reports/<run id>."""
        run_id = self.run_id or (new_run_id() + (f"-{suffix}" if suffix else ""))
        report_dir = self.report_dir or resources.reports_root() / run_id
        return self.model_copy(update={"run_id": run_id, "report_dir": report_dir})

    def provider_options(self, *, upgrade: bool = False) -> dict[str, Any]:
        """The fields the chosen provider (with `upgrade`, its upgrade class) takes, by name:
        those its constructor names as parameters. A parameter without a default is required; a
        spec without it is refused here, naming the option that gives it."""
        cls = provider(self.kind, upgrade=upgrade)
        params = inspect.signature(cls.__init__).parameters
        options: dict[str, Any] = {}
        for opt in OPTIONS:
            param = params.get(opt.field)
            if param is None or param.kind is param.VAR_KEYWORD:
                continue
            value = getattr(self, opt.field)
            if value is None and param.default is param.empty:
                hint = f" ({opt.hint})" if opt.hint else ""
                raise ConfigError(f"--target {self.kind} needs {opt.flag} {opt.metavar}{hint}")
            options[opt.field] = list(value) if isinstance(value, tuple) else value
        return options

    # -- the command line and the plugin -----------------------------------------------------
    @staticmethod
    def add_arguments(
        parser: Any,
        *fields: str,
        kinds: tuple[str, ...] = KINDS,
        required: tuple[str, ...] = (),
    ) -> None:
        """Add the options for `fields` (default: all) to an argparse parser or group; `kinds`
        are the targets this command can run on (the first is its default)."""
        for opt in _chosen(fields):
            kwargs = opt.kwargs(kinds)
            if opt.field in required:
                kwargs["required"] = True
                kwargs.pop("default", None)
            parser.add_argument(opt.flag, **kwargs)

    @staticmethod
    def add_pytest_options(group: Any) -> None:
        """Add every option to the pytest plugin's option group (`group.addoption`), with the
        old --eg-* spellings hidden and the environment's defaults for the target."""
        for opt in OPTIONS:
            kwargs = opt.kwargs(None)
            if opt.env:
                kwargs["default"] = os.environ.get(opt.env, kwargs.get("default"))
            group.addoption(opt.flag, **kwargs)
            for old in opt.hidden:
                group.addoption(old, **{**kwargs, "help": argparse.SUPPRESS})


@dataclass(frozen=True)
class Option:
    """One target option: its field of TargetSpec, its one spelling and its one help text."""

    field: str
    flag: str
    help: str
    action: str = "store"  # or store_true (a switch), append (repeatable)
    metavar: str | None = None
    hidden: tuple[str, ...] = ()  # old spellings, still accepted, hidden from --help
    env: str | None = None  # the plugin's default comes from this environment variable
    hint: str = ""  # where to read more, in the error for a provider that needs the option

    @property
    def dest(self) -> str:
        """One name in argparse's namespace and in pytest's options alike."""
        return self.flag.lstrip("-").replace("-", "_")

    def kwargs(self, kinds: tuple[str, ...] | None) -> dict[str, Any]:
        """add_argument/addoption keywords. `kinds` None: the plugin, which takes any kind
        and refuses an unknown one when it makes the target (its report says so)."""
        kw: dict[str, Any] = {"dest": self.dest, "help": self.help, "action": self.action}
        if self.action == "store":
            kw["default"] = TargetSpec.model_fields[self.field].default
            if self.metavar:
                kw["metavar"] = self.metavar
        elif self.action == "append":
            kw["default"] = []
            if self.metavar:
                kw["metavar"] = self.metavar
        else:  # a switch: absent is the field's default (None: the target's config decides)
            kw["default"] = TargetSpec.model_fields[self.field].default
        if self.field == "kind":
            offered = kinds or KINDS
            kw["default"] = offered[0]
            about = "; ".join(f"{k}: {PROVIDERS[k].about}" for k in offered)
            kw["help"] = self.help.format(kinds=about, default=offered[0])
            if kinds is not None:
                kw["choices"] = kinds
        return kw


OPTIONS: tuple[Option, ...] = (
    Option(
        "kind",
        "--target",
        "the target: {kinds} (default {default})",
        env="EG_HARNESS_TARGET",
    ),
    Option(
        "config_path",
        "--target-config",
        "YAML describing an existing deployment (--target existing; see "
        "clusters/examples/existing.yaml)",
        metavar="FILE",
        env="EG_HARNESS_TARGET_CONFIG",
        hint="see clusters/examples/existing.yaml",
    ),
    Option(
        "run_id",
        "--run-id",
        "run id (default: time-stamped); names the report",
        hidden=("--eg-run-id",),
    ),
    Option(
        "report_dir",
        "--report-dir",
        "where to write the report (default: reports/<run-id>)",
        hidden=("--eg-report-dir",),
    ),
    Option(
        "faults",
        "--local-fault",
        "seed a fault into the local or node target (repeatable; see `eg-harness faults`)",
        action="append",
        metavar="NAME",
    ),
    Option(
        "allow_destructive",
        "--allow-destructive",
        "run scenarios that disturb other users of an existing target",
        action="store_true",
    ),
    Option(
        "kind_cluster", "--kind-cluster", "kind target: reuse this kind cluster", metavar="NAME"
    ),
    Option(
        "keep_cluster",
        "--keep-cluster",
        "kind target: keep the cluster afterwards (what the run installed in it is removed)",
        action="store_true",
    ),
    Option(
        "z2jh_chart",
        "--z2jh-chart",
        "node target: install the hub from this z2jh 3.2.1 chart (a directory or .tgz from "
        "`helm pull jupyterhub/jupyterhub --version 3.2.1`) instead of the harness's own hub "
        "Deployment; its copy's kubeVersion is lowered to admit the cluster (docs/node-cluster.md)",
        metavar="PATH",
    ),
)
FLAGS = tuple(f for opt in OPTIONS for f in (opt.flag, *opt.hidden))


def _chosen(fields: tuple[str, ...]) -> list[Option]:
    known = {opt.field: opt for opt in OPTIONS}
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ValueError(f"no target option for {unknown}: one of {list(known)}")
    return [known[f] for f in fields] if fields else list(OPTIONS)


def make_target(spec: TargetSpec, *, upgrade: bool = False, **deployment: Any) -> Target:
    """The target `spec` describes; with `upgrade`, its kind's upgrade class (`eg-harness
    upgrade`: the stack at release A, `deployment`'s `versions`). `deployment` are a command's
    or the plugin's own choices for a stack it stands up (versions, gateway_env, hub_settings,
    with_hub, hub_on_demand), never options a user types for the target; a provider gets those
    its constructor names."""
    cls = provider(spec.kind, upgrade=upgrade)
    params = inspect.signature(cls.__init__).parameters
    chosen = {k: v for k, v in deployment.items() if k in params}
    return cls(**spec.provider_options(upgrade=upgrade), **chosen)
