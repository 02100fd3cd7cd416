"""Component versions as parameters: `gateway=3.2.3,hub=5.5.4,...` -> cached environments.

Today's pins live in clusters/local/{gateway,hub}.in; another version set is the same file with
its `==` pins replaced, locked with uv and cached by the hash of that text, exactly as today's
environments are cached by their lock files. Lock files for the default "from" versions are
committed beside today's (clusters/local/<component>-<tag>.lock), so the default upgrade needs
no resolver run; any other version set is locked once into the cache (network to PyPI).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from eg_harness import resources
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.runtime import envs

# Parameter name -> (environment, distribution pinned in that environment's .in file).
KEYS: dict[str, tuple[str, str]] = {
    "gateway": ("gateway", "jupyter_enterprise_gateway"),
    "hub": ("hub", "jupyterhub"),
    "jupyter_server": ("hub", "jupyter_server"),
    "jupyterlab": ("hub", "jupyterlab"),
}
# The newest release of the previous minor (EG, jupyter_server, jupyterlab) or, for the hub, of
# the previous major: 6.0.x -> 6.1 has no database migration, 5.5.4 -> 6.x has four, and
# `upgrade-db` is what an operator of the seed's z2jh 3.x (JupyterHub 5) meets next.
DEFAULT_FROM = {
    "gateway": "3.2.3",
    "hub": "5.5.4",
    "jupyter_server": "2.20.0",
    "jupyterlab": "4.5.11",
}
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]*$")


@dataclass(frozen=True)
class Versions:
    gateway: str
    hub: str
    jupyter_server: str
    jupyterlab: str

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in KEYS}

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())

    def tag(self, env: str) -> str:
        """The file-name tag of one environment's pins, e.g. `5.5.4-js2.20.0-lab4.5.11`."""
        if env == "gateway":
            return self.gateway
        return f"{self.hub}-js{self.jupyter_server}-lab{self.jupyterlab}"


def current() -> Versions:
    """Today's pins, read from the .in files so there is one place that says them."""
    found: dict[str, str] = {}
    for key, (env, dist) in KEYS.items():
        text = (resources.LOCAL_CLUSTER / f"{env}.in").read_text()
        m = re.search(rf"^{re.escape(dist)}==(\S+)\s*$", text, re.MULTILINE)
        if not m:
            raise ConfigError(f"clusters/local/{env}.in does not pin {dist}==: restore it from git")
        found[key] = m.group(1)
    return Versions(**found)


def parse(spec: str | None, base: Versions) -> Versions:
    """`gateway=3.2.3,hub=5.5.4` over `base`: unnamed components keep base's version."""
    if not spec:
        return base
    given: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in KEYS or not _VERSION.match(value):
            raise ConfigError(
                f"bad version {part!r}: write COMPONENT=VERSION with COMPONENT one of "
                f"{', '.join(KEYS)}, e.g. gateway=3.2.3,hub=5.5.4"
            )
        given[key] = value
    return replace(base, **given)


def default_from() -> Versions:
    return Versions(**DEFAULT_FROM)


def render_in(env: str, versions: Versions) -> str:
    """Today's .in for `env` with the pins of `versions` put in."""
    text = (resources.LOCAL_CLUSTER / f"{env}.in").read_text()
    for key, (e, dist) in KEYS.items():
        if e == env:
            text = re.sub(
                rf"^{re.escape(dist)}==\S+\s*$",
                f"{dist}=={getattr(versions, key)}",
                text,
                flags=re.MULTILINE,
            )
    return text


def committed_lock(env: str, versions: Versions) -> Path:
    if versions.tag(env) == current().tag(env):
        return resources.LOCAL_CLUSTER / f"{env}.lock"
    return resources.LOCAL_CLUSTER / f"{env}-{versions.tag(env)}.lock"


def lockfile(env: str, versions: Versions, progress=print) -> Path:
    """The lock file for `env` at `versions`: committed if there is one, else locked once into
    the cache (keyed by the hash of the rendered .in)."""
    committed = committed_lock(env, versions)
    if committed.exists():
        return committed
    text = render_in(env, versions)
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    out = envs.cache_dir() / "locks" / f"{env}-{versions.tag(env)}-{key}.lock"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(".in")
    src.write_text(text)
    progress(f"locking the {env} environment for {versions.tag(env)} (uv pip compile)")
    proc = subprocess.run(
        [
            envs.uv_bin(),
            "pip",
            "compile",
            "-q",
            "--python-version",
            "3.11",
            str(src),
            "-o",
            str(out.with_suffix(".tmp")),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TargetUnavailable(
            f"cannot resolve the {env} environment for {versions.tag(env)}: {tail[0]}; "
            "check the versions exist on PyPI and suit Python 3.11"
        )
    out.with_suffix(".tmp").rename(out)
    return out


def ensure(env: str, versions: Versions, progress=print) -> envs.PythonEnv:
    """The cached environment of `env` at `versions` (created on first use)."""
    lock = lockfile(env, versions, progress)
    return envs.ensure_python_env(env, lock, progress)
