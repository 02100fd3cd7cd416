"""Preflight: everything the kind target needs, checked before anything is created.

A run that would fail after ten minutes of image builds because helm is missing wastes a CI
slot, so each missing piece is found here, in seconds, and named on its own line with how to
get it; together they end the run with exit code 3.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import cache_dir
from eg_harness.targets.kind import tools
from eg_harness.targets.kind.pins import Pins, load_pins

GIB = 1 << 30


class PreflightFailed(TargetUnavailable):
    """One or more prerequisites are missing; the message has one line per missing piece."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the kind target cannot start ({len(problems)} missing):\n{lines}\nnothing was created"
        )


@dataclass
class PreflightReport:
    versions: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    docker_root: str | None = None


def check_docker_engine(binary: str, timeout: float) -> tuple[str | None, str | None, str]:
    """(server version, docker root dir, problem): the client alone is not enough."""
    try:
        proc = subprocess.run(
            [binary, "info", "--format", "{{.ServerVersion}}|{{.DockerRootDir}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, None, f"Docker engine: `docker info` did not answer in {timeout:.0f}s"
    out = proc.stdout.strip()
    if proc.returncode == 0 and "|" in out and out.split("|")[0]:
        version, root = out.split("|", 1)
        return version, root, ""
    said = [
        line.strip()
        for line in (proc.stderr or out).splitlines()
        if line.strip() and ("error" in line.lower() or "cannot connect" in line.lower())
    ]
    cause = said[0] if said else "no answer from the engine"
    return (
        None,
        None,
        f"Docker engine not reachable (the docker client is installed, but: {cause}): "
        "start the Docker daemon (`sudo systemctl start docker`) or Docker Desktop, or set "
        "DOCKER_HOST to a running engine",
    )


def run_preflight(pins: Pins | None = None, *, reuse_cluster: bool = False) -> PreflightReport:
    """Check every prerequisite; collect all problems rather than stopping at the first."""
    pins = pins or load_pins()
    timeout = pins.timeout("preflight_probe")
    report = PreflightReport()
    minimums = {"kind": pins.kind_version, "helm": pins.helm_min_version}
    for tool in tools.TOOLS:
        binary = tools.locate(tool)
        if binary is None:
            report.problems.append(f"{tool} not found: {tools.INSTALL[tool]}")
            continue
        version, problem = tools.probe_version(tool, binary, timeout)
        if version is None:
            report.problems.append(f"{tool}: {problem}: {tools.INSTALL[tool]}")
            continue
        report.versions[tool] = version.text
        if tool in minimums and not version.at_least(minimums[tool]):
            report.problems.append(
                f"{tool} {version.text} is older than {minimums[tool]}: {tools.INSTALL[tool]}"
            )
        if tool == "docker":
            server, root, problem = check_docker_engine(binary, timeout)
            if problem:
                report.problems.append(problem)
            else:
                report.versions["docker engine"] = server or "?"
                report.docker_root = root
    _check_resources(pins, report, reuse_cluster)
    return report


def _check_resources(pins: Pins, report: PreflightReport, reuse_cluster: bool) -> None:
    need_disk = float(pins.resources["min_free_disk_gib"])
    need_mem = float(pins.resources["min_free_memory_gib"])
    # Images land in the engine's root; the cache holds the EG sdist and staged contexts.
    places = [Path(report.docker_root)] if report.docker_root else []
    places.append(cache_dir())
    for place in places:
        probe = place if place.exists() else Path(place.anchor or "/")
        free = shutil.disk_usage(probe).free / GIB
        if free < need_disk:
            report.problems.append(
                f"free disk {free:.1f} GiB at {place} is below the {need_disk:.0f} GiB the node "
                "image and the kernel images need: free space (e.g. `docker system prune`)"
            )
    if not reuse_cluster:
        available = psutil.virtual_memory().available / GIB
        if available < need_mem:
            report.problems.append(
                f"available memory {available:.1f} GiB is below the {need_mem:.0f} GiB a kind "
                "node with the gateway, the hub and a Spark driver needs: close other work or "
                "use a bigger machine"
            )


def require(pins: Pins | None = None, *, reuse_cluster: bool = False, progress=None) -> dict:
    """Raise PreflightFailed (exit 3) unless everything is there; returns the tool versions."""
    report = run_preflight(pins, reuse_cluster=reuse_cluster)
    if report.problems:
        raise PreflightFailed(report.problems)
    if progress:
        progress("preflight: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    return report.versions
