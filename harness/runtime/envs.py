"""Component environments: one per component, created once and cached by a hash of its pins.

EG 3.x pins jupyter_server<2 and jupyter_client<7 while the single-user servers need
jupyter_server 2.x, so each component gets its own virtualenv, kept apart from the
harness's own. The lock files in clusters/local/ are the pins; changing one makes a new
environment, so an upgrade A -> B is two lock files, not a rebuild of the world.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eg_harness import resources
from eg_harness.errors import TargetUnavailable

try:
    from uv import find_uv_bin
except ImportError:  # a harness installed without uv: one on PATH is used
    find_uv_bin = None  # type: ignore[assignment]

ENV_LAYOUT = "2"  # bump when the way environments are built changes (2: bytecode compiled)

Progress = Callable[[str], None]


def cache_dir() -> Path:
    base = os.environ.get("EG_HARNESS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "eg-harness"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def uv_bin() -> str:
    try:
        return find_uv_bin()
    except Exception:  # noqa: BLE001 - fall back to one on PATH
        found = shutil.which("uv")
        if not found:
            raise TargetUnavailable(
                "uv is not installed: install the harness with its dependencies (./dev setup)"
            ) from None
        return found


def base_python() -> str:
    """An interpreter EG can run on: EG imports distutils, which Python 3.12 removed."""
    candidates = []
    if sys.version_info[:2] in ((3, 10), (3, 11)):
        candidates.append(getattr(sys, "_base_executable", None) or sys.executable)
    candidates += [shutil.which("python3.11"), shutil.which("python3.10")]
    for cand in candidates:
        if cand and os.path.exists(cand):
            return os.path.realpath(cand) if "pyenv/shims" not in cand else _resolve_shim(cand)
    raise TargetUnavailable(
        "no Python 3.10 or 3.11 found for the gateway environment (EG 3.3 does not run on "
        "3.12+): install python3.11 or set EG_HARNESS_PYTHON"
    )


def _resolve_shim(shim: str) -> str:
    out = subprocess.run(
        [shim, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True
    )
    return out.stdout.strip() or shim


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class PythonEnv:
    name: str
    path: Path
    lockfile: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def bin(self, script: str) -> str:
        return str(self.path / "bin" / script)

    def version_of(self, dist: str) -> str | None:
        out = subprocess.run(
            [self.python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip() or None


def env_key(lockfile: Path, python: str, extra: str = "") -> str:
    h = hashlib.sha256()
    h.update(lockfile.read_bytes())
    h.update(f"|{python}|{ENV_LAYOUT}|{extra}".encode())
    return h.hexdigest()[:12]


def ensure_python_env(name: str, lockfile: Path, progress: Progress = print) -> PythonEnv:
    """Create (or reuse) the virtualenv for `name` from `lockfile`; safe across processes."""
    if not lockfile.exists():
        raise TargetUnavailable(f"pin file {lockfile} is missing: restore it from git")
    python = os.environ.get("EG_HARNESS_PYTHON") or base_python()
    key = env_key(lockfile, python)
    path = cache_dir() / "envs" / f"{name}-{key}"
    env = PythonEnv(name, path, lockfile)
    marker = path / ".eg-harness-complete"
    if marker.exists():
        return env
    with locked(cache_dir() / "envs" / f".{name}-{key}.lock"):
        if marker.exists():
            return env
        if path.exists():
            shutil.rmtree(path)
        progress(f"creating the {name} environment from {lockfile.name} (cached as {path.name})")
        t0 = time.monotonic()
        uv = uv_bin()
        _run([uv, "venv", "-q", "--python", python, str(path)], f"{name} venv")
        _run(
            # Compiled now: with PYTHONDONTWRITEBYTECODE set (as on our development and CI
            # machines) every gateway, hub, user server and kernel would recompile on import.
            [uv, "pip", "sync", "-q", "--compile-bytecode", "--python", str(path / "bin/python")]
            + [str(lockfile)],
            f"{name} packages",
        )
        marker.write_text(json.dumps({"lockfile": str(lockfile), "python": python}))
        progress(f"{name} environment ready in {time.monotonic() - t0:.1f}s")
    return env


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TargetUnavailable(
            f"creating the {what} failed (exit {proc.returncode}): {tail[0]}; "
            "check network access to the package registry"
        )


@dataclass(frozen=True)
class ProxyInstall:
    """How to run configurable-http-proxy, and which implementation it is (for the report)."""

    kind: str  # "npm" or "pypi"
    argv: tuple[str, ...]
    version: str


def _proxy_pins() -> dict[str, str]:
    return json.loads((resources.LOCAL_CLUSTER / "proxy.json").read_text())


def ensure_proxy(progress: Progress = print) -> ProxyInstall:
    """The real npm configurable-http-proxy; the PyPI drop-in only when npm cannot give it."""
    pins = _proxy_pins()
    npm_version = pins["npm"]
    node, npm = shutil.which("node"), shutil.which("npm")
    if os.environ.get("EG_HARNESS_PROXY") != "pypi" and node and npm:
        path = cache_dir() / "proxy" / f"npm-{npm_version}"
        binary = (
            path / "node_modules" / "configurable-http-proxy" / "bin" / "configurable-http-proxy"
        )
        marker = path / ".eg-harness-complete"
        with locked(cache_dir() / "proxy" / f".npm-{npm_version}.lock"):
            if not marker.exists():
                progress(f"installing configurable-http-proxy {npm_version} from npm")
                path.mkdir(parents=True, exist_ok=True)
                proc = subprocess.run(
                    [
                        npm,
                        "install",
                        "--prefix",
                        str(path),
                        "--no-audit",
                        "--no-fund",
                        "--loglevel=error",
                        f"configurable-http-proxy@{npm_version}",
                    ],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode == 0 and binary.exists():
                    marker.write_text(npm_version)
                else:
                    progress(
                        "npm install of configurable-http-proxy failed; using the PyPI drop-in"
                    )
        if marker.exists():
            return ProxyInstall("npm", (node, str(binary)), npm_version)
    env = ensure_python_env("proxy-pypi", resources.LOCAL_CLUSTER / "proxy-pypi.lock", progress)
    return ProxyInstall("pypi", (env.bin("configurable-http-proxy"),), pins["pypi"])
