"""Host settings a node cluster changes, recorded before bring-up and restored at teardown.

The kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops; the CNI bridge
turns on IPv4 forwarding (which also switches every interface's forwarding on and
all.accept_redirects off); kube-proxy sets route_localnet. None of that may outlive the run,
so the values are read from /proc/sys into the run's state file first and written back in an
order that undoes the kernel's side effects (ip_forward first: writing it resets the
per-interface values, which are then put back one by one).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

PROC_SYS = Path("/proc/sys")

# Written back first, in this order: each may reset the ones after it.
LEADING = ["net/ipv4/ip_forward"]
FIXED = [
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/conf/all/accept_redirects",
    "net/ipv4/conf/default/accept_redirects",
    "net/ipv4/conf/all/route_localnet",
]


def keys(proc_sys: Path = PROC_SYS) -> list[str]:
    """The settings to record: the fixed ones plus each present interface's forwarding."""
    out = LEADING + FIXED
    conf = proc_sys / "net" / "ipv4" / "conf"
    if conf.is_dir():
        for iface in sorted(p.name for p in conf.iterdir()):
            if iface in ("all", "default"):
                continue
            out.append(f"net/ipv4/conf/{iface}/forwarding")
    return out


def record(proc_sys: Path = PROC_SYS) -> dict[str, str]:
    values = {}
    for key in keys(proc_sys):
        with contextlib.suppress(OSError):
            values[key] = (proc_sys / key).read_text().strip()
    return values


def changed(before: dict[str, str], proc_sys: Path = PROC_SYS) -> dict[str, tuple[str, str]]:
    """{key: (before, now)} for recorded settings that differ now (interfaces gone skipped)."""
    out = {}
    for key, value in before.items():
        try:
            now = (proc_sys / key).read_text().strip()
        except OSError:
            continue
        if now != value:
            out[key] = (value, now)
    return out


def restore(before: dict[str, str], proc_sys: Path = PROC_SYS) -> list[str]:
    """Write recorded values back where they differ; returns what could not be restored.

    An interface that no longer exists (a veth gone with its pod, the bridge deleted) is not
    a failure: its setting went with it.
    """
    failed = []
    ordered = [k for k in LEADING if k in before] + [k for k in before if k not in LEADING]
    for key in ordered:
        path = proc_sys / key
        try:
            now = path.read_text().strip()
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed.append(f"sysctl {key.replace('/', '.')}: cannot read ({exc})")
            continue
        if now == before[key]:
            continue
        try:
            path.write_text(before[key] + "\n")
        except OSError as exc:
            failed.append(f"sysctl {key.replace('/', '.')}={before[key]}: {exc}")
    for key, (was, now) in changed(before, proc_sys).items():
        failed.append(f"sysctl {key.replace('/', '.')} is {now}, was {was}")
    return sorted(set(failed))
