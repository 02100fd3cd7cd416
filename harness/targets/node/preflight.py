"""Preflight of the node target: can this machine host a single-node cluster, right now?

Checked in seconds before anything is built or started, every missing piece on its own line
with its fix, together ending the run with exit code 3 (like the kind target's preflight).
Missing Debian packages are installed here when the machine allows it (root and apt), since
that is the fix and it needs nobody.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import cache_dir
from eg_harness.targets.node import hostclean, hostpkgs, k8sbuild
from eg_harness.targets.node.pins import NodePins, load_pins

Progress = Callable[[str], None]
GIB = 1 << 30
# What preflight and `setup` call to install missing Debian packages (root and apt).
ensure_host_packages = hostpkgs.ensure_host_packages
BUILD_DISK_GIB = 4  # 1.5 GB Go cache + the source tree + 360 MB of binaries, with room


class PreflightFailed(TargetUnavailable):
    """One or more prerequisites are missing; the message has one line per missing piece."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the node target cannot start ({len(problems)} missing):\n{lines}\nnothing was created"
        )


def kernel_problems(proc: Path = Path("/proc"), sys: Path = Path("/sys")) -> tuple[list[str], str]:
    """(problems, cgroup version) for the kernel features the cluster needs."""
    problems = []
    try:
        filesystems = (proc / "filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems.split():
        problems.append(
            "kernel: no overlayfs (containerd's snapshotter): `modprobe overlay` on the host"
        )
    if not (sys / "module" / "bridge").exists() and not any(
        (sys / "class" / "net").glob("*/bridge")
    ):
        problems.append("kernel: no bridge support (the CNI bridge): `modprobe bridge`")
    if not (proc / "sys" / "net" / "bridge" / "bridge-nf-call-iptables").exists():
        problems.append(
            "kernel: br_netfilter not loaded (Service traffic between pods on the bridge "
            "bypasses kube-proxy's rules): `modprobe br_netfilter`"
        )
    cg = sys / "fs" / "cgroup"
    if (cg / "memory").is_dir() and (cg / "cpu").is_dir():
        version = "v1"
    elif (cg / "cgroup.controllers").exists():
        version = "v2"
        problems.append(
            "kernel: cgroup v2 only; the kubelet of Kubernetes v1.20 needs cgroup v1 "
            "controllers: boot with systemd.unified_cgroup_hierarchy=0"
        )
    else:
        version = "none"
        problems.append("kernel: no cgroup controllers under /sys/fs/cgroup (memory, cpu)")
    return problems, version


def listening_ports() -> set[tuple[str, int]]:
    out = set()
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return out
    for c in conns:
        if c.status == psutil.CONN_LISTEN or (c.type == 2 and c.laddr):  # 2: SOCK_DGRAM
            out.add((c.laddr.ip, c.laddr.port))
    return out


def port_problems(pins: NodePins, taken: set[tuple[str, int]]) -> list[str]:
    wildcard = {"0.0.0.0", "::", ""}
    bridge_ip = pins.network["bridge_ip"]
    mine = {"127.0.0.1", bridge_ip, "::1"} | wildcard
    problems = []
    for name, port in pins.ports.items():
        used = sorted(ip for ip, p in taken if p == port and ip in mine)
        # DNS binds only the bridge address: 127.0.0.53 (systemd-resolved) is no clash.
        if name == "dns":
            used = [ip for ip in used if ip in wildcard | {bridge_ip}]
        if used:
            problems.append(
                f"port {port} ({name}) is taken on {', '.join(used)}: stop what listens there "
                f"(`ss -ltnup 'sport = :{port}'`), or change ports.{name} in "
                "clusters/node/node.json"
            )
    return problems


def require(progress: Progress = print, pins: NodePins | None = None) -> dict[str, str]:
    """Check (and install missing packages); raise PreflightFailed listing every problem."""
    pins = pins or load_pins()
    problems: list[str] = []
    found: dict[str, str] = {"kernel": platform.release()}
    if platform.system() != "Linux":
        raise PreflightFailed([f"not Linux ({platform.system()}): the node target runs a kubelet"])
    if os.geteuid() != 0:
        problems.append(
            "not root: the node target runs a kubelet, containerd and iptables changes; run "
            "as root (e.g. in the CI container), or use --target kind or local"
        )
    apt = shutil.which("apt-get")
    if not apt:
        problems.append(
            "no apt-get: the node target builds and runs from Debian bookworm's packages; use "
            "a Debian bookworm machine"
        )
    kernel, cgroups = kernel_problems()
    problems += kernel
    found["cgroups"] = cgroups
    problems += port_problems(pins, listening_ports())
    bridge = pins.network["bridge"]
    if hostclean.link_exists(bridge):
        problems.append(
            f"bridge {bridge} exists (a node cluster is running, or a killed run left it): "
            "`eg-harness down`"
        )
    binaries = k8sbuild.cached(pins)
    found["kubernetes"] = f"{pins.git_version} (Debian {pins.debian_version})"
    found["kubernetes binaries"] = str(binaries) if binaries else "not built yet (10-15 min)"
    if not binaries:
        free = shutil.disk_usage(cache_dir()).free
        if free < BUILD_DISK_GIB * GIB:
            problems.append(
                f"disk: {free / GIB:.1f} GiB free under {cache_dir()}, the Kubernetes build needs "
                f"{BUILD_DISK_GIB} GiB: free space or set EG_HARNESS_CACHE elsewhere"
            )
    missing = hostpkgs.missing_packages(pins)
    if missing and not problems:
        try:
            hostpkgs.ensure_host_packages(progress, pins)
        except TargetUnavailable as exc:
            problems.append(str(exc))
    elif missing:
        problems.append(
            f"Debian packages missing: {' '.join(missing)}: apt-get install "
            f"--no-install-recommends {' '.join(missing)}"
        )
    if problems:
        raise PreflightFailed(problems)
    found.update(_package_versions(pins))
    return found


def _package_versions(pins: NodePins) -> dict[str, str]:
    names = [p for p in pins.apt["host_packages"] if p in ("etcd-server", "containerd", "runc")]
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package} ${Version}\n", *names],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
