"""Removing what a node cluster leaves in the host's shared places: chains, mounts, links, paths.

Each function takes what was recorded before bring-up (the chains and paths that already
existed) so teardown removes only what the run created, and works from the state file alone:
`eg-harness down` after a SIGKILL has no live cluster object to ask.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import shutil
import subprocess
from pathlib import Path

TABLES = ("filter", "nat", "mangle")
BINARIES = ("iptables", "ip6tables")
PREFIXES = ("KUBE-", "CNI-")
MNT_DETACH = 2

# Written by the kubelet, containerd and the CNI plugins outside any directory a flag moves.
HOST_PATHS = [
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/opt/containerd",
    "/run/containerd",
    "/var/lib/cni",
    "/run/netns",
    "/usr/libexec/kubernetes",
]
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "kubepods"


def _run(argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


# --- iptables -------------------------------------------------------------------------------


def chains(binary: str, table: str) -> list[str]:
    if not shutil.which(binary):
        return []
    try:
        out = _run([binary, "-w", "5", "-t", table, "-S"])
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("-N ")]


def chain_snapshot() -> dict[str, dict[str, list[str]]]:
    """Chains with our prefixes that exist now, per binary and table (kept at teardown)."""
    return {
        b: {t: [c for c in chains(b, t) if c.startswith(PREFIXES)] for t in TABLES}
        for b in BINARIES
    }


def new_chains(before: dict, binary: str, table: str, rules: list[str]) -> list[str]:
    kept = set(before.get(binary, {}).get(table, []))
    names = [ln.split()[1] for ln in rules if ln.startswith("-N ")]
    return [c for c in names if c.startswith(PREFIXES) and c not in kept]


def jump_deletions(rules: list[str], ours: set[str]) -> list[list[str]]:
    """-D argument lists for rules in other chains that jump to one of `ours`."""
    out = []
    for line in rules:
        if not line.startswith("-A "):
            continue
        args = shlex.split(line)
        chain = args[1]
        target = args[args.index("-j") + 1] if "-j" in args else None
        if chain in ours or target not in ours:
            continue
        out.append(["-D", *args[1:]])
    return out


def remove_chains(before: dict) -> list[str]:
    """Remove the chains (and the jumps to them) created since `before`; returns leftovers."""
    left = []
    for binary in BINARIES:
        if not shutil.which(binary):
            continue
        for table in TABLES:
            try:
                rules = _run([binary, "-w", "5", "-t", table, "-S"]).stdout.splitlines()
            except (OSError, subprocess.TimeoutExpired):
                continue
            ours = set(new_chains(before, binary, table, rules))
            if not ours:
                continue
            for spec in jump_deletions(rules, ours):
                _run([binary, "-w", "5", "-t", table, *spec])
            for chain in ours:
                _run([binary, "-w", "5", "-t", table, "-F", chain])
            for chain in ours:
                _run([binary, "-w", "5", "-t", table, "-X", chain])
            still = set(chains(binary, table)) & ours
            left += [f"{binary} -t {table} chain {c}" for c in sorted(still)]
    return left


# --- mounts ---------------------------------------------------------------------------------


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def mounts_under(roots: list[Path], mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Mount points at or under any of `roots`, deepest first."""
    prefixes = [str(r).rstrip("/") for r in roots]
    found = []
    try:
        text = mountinfo.read_text()
    except OSError:
        return []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        point = _unescape(parts[4])
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def unmount_under(roots: list[Path], rounds: int = 5) -> list[str]:
    """Lazily unmount everything under `roots` (stacked mounts need several rounds)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(rounds):
        points = mounts_under(roots)
        if not points:
            return []
        for point in points:
            libc.umount2(point.encode(), MNT_DETACH)
    return [f"mount {p}" for p in mounts_under(roots)]


# --- links ----------------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def veths_of(bridge: str) -> list[str]:
    brif = Path("/sys/class/net", bridge, "brif")
    return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []


def remove_bridge(bridge: str) -> list[str]:
    for veth in veths_of(bridge):
        _run(["ip", "link", "del", veth])
    if link_exists(bridge):
        _run(["ip", "link", "del", bridge])
    left = [f"veth {v}" for v in veths_of(bridge)]
    if link_exists(bridge):
        left.append(f"bridge {bridge}")
    return left


# --- paths ----------------------------------------------------------------------------------


def path_snapshot(paths: list[str] = HOST_PATHS) -> dict[str, bool]:
    return {p: os.path.lexists(p) for p in paths}


def remove_created_paths(before: dict[str, bool]) -> list[str]:
    """Remove the host paths that did not exist before the run (after unmounting them)."""
    left = []
    for path, existed in before.items():
        if existed or not os.path.lexists(path):
            continue
        unmount_under([Path(path)])
        if os.path.islink(path) or os.path.isfile(path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):
            left.append(f"path {path}")
    return left


def cgroup_snapshot(root: Path = CGROUP_ROOT) -> list[str]:
    """The controllers' kubepods cgroups that exist now (kept at teardown)."""
    return sorted(str(p) for p in root.glob(f"*/{CGROUP_NAME}")) + (
        [str(root / CGROUP_NAME)] if (root / CGROUP_NAME).is_dir() else []
    )


def remove_cgroups(before: list[str], root: Path = CGROUP_ROOT) -> list[str]:
    """rmdir the kubepods cgroup trees the kubelet created (deepest first: cgroupfs has no
    recursive removal); a cgroup with a process left in it stays and is reported."""
    left = []
    candidates = [p for p in root.glob(f"*/{CGROUP_NAME}")] + [root / CGROUP_NAME]
    for top in candidates:
        if str(top) in before or not top.is_dir():
            continue
        dirs = sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: -len(p.parts))
        for d in dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        if top.exists():
            left.append(f"cgroup {top}")
    return left
