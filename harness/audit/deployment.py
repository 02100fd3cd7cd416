"""What a deployment installs: per helm release, its values files and --set/--set-string/--set-file
arguments, in helm's order, with the source of every key kept so a finding can name the file
(or command-line argument) and key that own it.

The values are passed to helm as they are (helm does the real merge and typing when it
renders); the merge here only answers "who set this key" and feeds the offline checks, and it
types `--set` values the way helm's strvals does (true/false, null, base-10 integers).
"""

from __future__ import annotations

import copy
import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from eg_harness import resources
from eg_harness.audit.findings import Layer
from eg_harness.errors import ConfigError
from eg_harness.runtime import envs, secrets
from eg_harness.targets.kind import values as kind_values

KIND_DIR = resources.CLUSTERS / "kind"
SET_FLAGS = ("--set", "--set-string", "--set-file")


@dataclass(frozen=True)
class SetArg:
    flag: str  # one of SET_FLAGS
    key: str  # helm's dotted key, `\.` escapes a dot inside a name
    value: str  # the text (for --set-file: the file's path)
    secret: bool = False
    why: str = ""  # set: the audit added this argument itself, and why

    def label(self) -> str:
        shown = "<redacted>" if self.secret else self.value
        return f"{self.flag} {self.key}={shown}"

    def path(self) -> tuple[str, ...]:
        if "[" in self.key:
            raise ConfigError(
                f"{self.flag} {self.key}: list indices are not supported by the audit; "
                "put that value in a values file"
            )
        return tuple(p.replace("\0", ".") for p in self.key.replace("\\.", "\0").split("."))


@dataclass
class Release:
    """One helm release: chart values in the order helm applies them."""

    name: str
    namespace: str
    values_files: list[Path] = field(default_factory=list)
    sets: list[SetArg] = field(default_factory=list)
    added_files: dict[str, str] = field(default_factory=dict)  # path -> why the audit added it

    def helm_args(self) -> list[str]:
        args: list[str] = []
        for f in self.values_files:
            args += ["--values", str(f)]
        for s in self.sets:
            args += [s.flag, f"{s.key}={s.value}"]
        return args

    def merged(self) -> tuple[dict, dict[tuple[str, ...], str]]:
        """(values, owner): owner maps each key path to the file or argument that set it."""
        values: dict = {}
        owner: dict[tuple[str, ...], str] = {}
        for f in self.values_files:
            doc = load_values(f)
            _merge(values, doc, (), str(f), owner)
        for s in self.sets:
            if s.flag == "--set-file":
                try:
                    value: object = Path(s.value).read_text()
                except OSError as exc:
                    raise ConfigError(
                        f"{s.flag} {s.key}: cannot read {s.value} ({exc.strerror}); fix the path"
                    ) from None
                label = f"{s.value} ({s.flag} {s.key})"
            elif s.flag == "--set-string":
                value, label = s.value, s.label()
            else:
                value, label = typed(s.value), s.label()
            _merge(values, _nest(s.path(), value), (), label, owner)
        return values, owner


def typed(text: str):
    """A `--set` value as helm's strvals types it."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", text) and -(2**63) <= int(text) < 2**63:
        return int(text)
    return text


def _nest(path: tuple[str, ...], value) -> dict:
    node: object = value
    for part in reversed(path):
        node = {part: node}
    return node  # type: ignore[return-value]


def _merge(base: dict, new: dict, prefix: tuple, label: str, owner: dict) -> None:
    for key, value in new.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, path, label, owner)
            continue
        base[key] = copy.deepcopy(value)
        for known in [p for p in owner if p[: len(path)] == path]:
            del owner[known]
        _own(value, path, label, owner)


def _own(value, path, label, owner) -> None:
    owner[path] = label
    if isinstance(value, dict):
        for k, v in value.items():
            _own(v, (*path, str(k)), label, owner)


def load_values(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}); fix the path") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}:{where} is not valid YAML ({problem}); fix the syntax") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a values file must be a YAML mapping, not {type(doc).__name__}")
    return doc


def owner_of(owner: dict[tuple[str, ...], str], path: tuple[str, ...]) -> str | None:
    """The source that set `path`, or the nearest enclosing key that was set."""
    for n in range(len(path), 0, -1):
        if path[:n] in owner:
            return owner[path[:n]]
    return None


def dotted(path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part).replace(".", "\\.")
            out += f".{text}" if out else text
    return out


@dataclass
class Deployment:
    """The two releases of the seed's deployment and the facts the traps depend on."""

    gateway: Release | None
    hub: Release | None
    images_local: bool = False
    gateway_profiles: tuple[str, ...] = ()
    label: str = "custom"
    assumptions: tuple[str, ...] = ()  # facts the audit assumed rather than read

    def releases(self) -> list[tuple[str, Release]]:
        return [(side, r) for side, r in (("eg", self.gateway), ("hub", self.hub)) if r]

    def layers(self) -> list[Layer]:
        """Every input of each release in helm's order, with the keys it sets and whether the
        audit added it: what an operator needs to reproduce the verdict."""
        out = []
        for _side, r in self.releases():
            where = f"{r.name} ({r.namespace})"
            for f in r.values_files:
                why = r.added_files.get(str(f))
                out.append(
                    Layer(
                        release=where,
                        kind="values file",
                        source=str(f),
                        keys=leaf_keys(load_values(f)),
                        added=why is not None,
                        why=why or "",
                    )
                )
            for a in r.sets:
                out.append(
                    Layer(
                        release=where,
                        kind=a.flag,
                        source=a.label().split(" ", 1)[1],
                        keys=[a.key],
                        added=bool(a.why),
                        why=a.why,
                    )
                )
        return out

    def reproduce(self) -> str:
        """The same audit as explicit `eg-harness audit` options (secrets as a placeholder:
        any non-empty string, the same for both releases, gives the same verdict)."""
        args = ["eg-harness", "audit"]
        for side, r in self.releases():
            for f in r.values_files:
                args += [f"--{side}-values", str(f)]
            for a in r.sets:
                value = "<token>" if a.secret else a.value
                args += [f"--{side}{a.flag.removeprefix('-')}", f"{a.key}={value}"]
        if self.images_local:
            args.append("--images-local")
        for slug in self.gateway_profiles:
            args += ["--gateway-profile", slug]
        return shlex.join(args)


def leaf_keys(values: dict, prefix: tuple = ()) -> list[str]:
    """The dotted keys a values document sets (a list is one value, as helm merges it)."""
    out = []
    for k, v in values.items():
        path = (*prefix, str(k))
        if isinstance(v, dict) and v:
            out += leaf_keys(v, path)
        else:
            out.append(dotted(path))
    return out


def kind_network_overlay(profile_values: Path) -> Path | None:
    """The egress rule the kind target adds when z2jh's policy would block the gateway (its own
    rule, from eg_harness.targets.kind.values), as a values file; None when not needed."""
    base = load_values(profile_values)
    namespace = "enterprise-gateway"
    if not kind_values.gateway_egress_blocked(base, namespace):
        return None
    rules = list(((base.get("singleuser") or {}).get("networkPolicy") or {}).get("egress") or [])
    doc = {
        "singleuser": {
            "networkPolicy": {"egress": [*rules, kind_values.gateway_egress_rule(namespace)]}
        }
    }
    text = (
        "# The kind target's overlay: z2jh's default policy blocks private IPs, so it adds an\n"
        "# egress rule to the gateway (the seed's own install needs it too).\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    path = (
        envs.cache_dir()
        / "audit"
        / (f"kind-network-overlay-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text)
    return path


def kind_deployment(token: str | None = None) -> Deployment:
    """clusters/kind/ as the kind target installs it: a fresh token per run, passed as strings,
    and the network rule the kind target adds over the seed's profile values."""
    token = token or secrets.new_token()
    secrets.register(token)
    profile = KIND_DIR / "jupyterhub-profile"
    overlay = kind_network_overlay(profile / "values.yaml")
    fresh = (
        "a fresh random token for this audit, passed as a string as the kind target does; "
        "any non-empty string, the same in both releases, gives the same verdict"
    )
    gateway = Release(
        "kdp-enterprise-gateway",
        "enterprise-gateway",
        [KIND_DIR / "enterprise-gateway-values.yaml"],
        [SetArg("--set-string", "authToken", token, secret=True, why=fresh)],
    )
    hub = Release(
        "jupyterhub",
        "jupyterhub",
        [profile / "values.yaml", *([overlay] if overlay else [])],
        [
            SetArg(
                "--set-file",
                "hub.extraConfig.jupyter_gateway_config\\.py",
                str(profile / "extra-config.py"),
                why="the seed's extra config, mounted as the kind target installs it",
            ),
            SetArg(
                "--set-file",
                "hub.extraFiles.jupyter_gateway_form.stringData",
                str(profile / "profile-form.html"),
                why="the seed's profile form, mounted as the kind target installs it",
            ),
            SetArg("--set-string", "hub.extraEnv.EG_AUTH_TOKEN", token, secret=True, why=fresh),
        ],
        added_files=(
            {
                str(overlay): "the kind target's egress rule to the gateway: z2jh's default "
                "policy blocks private IPs (eg_harness.targets.kind.values)"
            }
            if overlay
            else {}
        ),
    )
    return Deployment(
        gateway,
        hub,
        images_local=True,
        label="kind (clusters/kind/)",
        assumptions=(
            "images are loaded into the nodes (kind load), as the kind target does: "
            "pull-policy traps on (--images-local)",
        ),
    )
