"""The Debian packages the node target runs on, installed with apt when missing, and deb-src.

The cluster is built and run from bookworm's own packages, so a fresh machine needs only apt
and root: this module installs what is missing (one line with the fix when it cannot) and adds
the deb-src line the Kubernetes source needs, in a file of its own so it is recognisable. That
file is left in place (it only lets apt fetch sources) and recorded in the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import cache_dir
from eg_harness.targets.node.pins import NodePins, load_pins

Progress = Callable[[str], None]

DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SOURCES_LIST = Path("/etc/apt/sources.list")
RECORD = "host-changes.json"


def missing_packages(pins: NodePins | None = None) -> list[str]:
    """Packages whose marker file is absent (a file check: dpkg-query is slower and lies less
    about what runs, but a binary in place is what the runtime needs)."""
    pins = pins or load_pins()
    return [pkg for pkg, marker in pins.apt["host_packages"].items() if not Path(marker).exists()]


def can_apt() -> str | None:
    """Why apt cannot be used here, or None."""
    if os.geteuid() != 0:
        return "not root: the node target installs packages and runs a kubelet; run as root"
    if not shutil.which("apt-get"):
        return "no apt-get: the node target needs a Debian bookworm (or derived) machine"
    return None


def ensure_host_packages(progress: Progress = print, pins: NodePins | None = None) -> list[str]:
    """apt-get install what is missing; returns the packages installed (empty: nothing to do)."""
    pins = pins or load_pins()
    missing = missing_packages(pins)
    if not missing:
        return []
    why = can_apt()
    if why:
        raise TargetUnavailable(
            f"packages missing for the node target: {' '.join(missing)}; {why} "
            f"(or install them: apt-get install {' '.join(missing)})"
        )
    progress(f"installing Debian packages for the node target: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _apt(["apt-get", "update", "-q"], env, pins.timeout("apt_update"), "apt-get update")
    _apt(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        env,
        pins.timeout("apt_install"),
        f"apt-get install {' '.join(missing)}",
    )
    still = missing_packages(pins)
    if still:
        raise TargetUnavailable(
            f"apt-get installed but these are still missing: {' '.join(still)}; check "
            f"apt-cache policy {' '.join(still)}"
        )
    _record("installed_packages", sorted(set(_recorded("installed_packages") + missing)))
    return missing


def deb_src_text(sources: str) -> str:
    """deb-src stanzas mirroring the deb stanzas of a deb822 .sources file."""
    out = []
    for stanza in sources.strip().split("\n\n"):
        lines = [ln for ln in stanza.splitlines() if ln.strip() and not ln.startswith("#")]
        fields = dict(ln.split(":", 1) for ln in lines if ":" in ln)
        if (
            fields.get("Types", "").split() != ["deb"]
            and "deb" not in fields.get("Types", "").split()
        ):
            continue
        body = [f"{k}:{v}" for k, v in fields.items() if k != "Types"]
        out.append("\n".join(["Types: deb-src", *body]))
    return "\n\n".join(out) + "\n"


def ensure_deb_src(progress: Progress = print, pins: NodePins | None = None) -> Path | None:
    """Add bookworm's deb-src (same mirrors as the deb lines) unless apt already has one."""
    pins = pins or load_pins()
    target = Path(pins.apt["deb_src_file"])
    if target.exists() or _has_deb_src():
        return None
    if not DEBIAN_SOURCES.exists():
        raise TargetUnavailable(
            f"no {DEBIAN_SOURCES} to mirror a deb-src line from: add a bookworm deb-src line "
            "to apt's sources by hand, then retry"
        )
    why = can_apt()
    if why:
        raise TargetUnavailable(f"cannot add bookworm's deb-src line: {why}")
    text = deb_src_text(DEBIAN_SOURCES.read_text())
    header = (
        "# Added by eg-harness (node target): bookworm's source packages, for building\n"
        "# Kubernetes from the Debian source package. Harmless to keep; safe to delete.\n"
    )
    target.write_text(header + text)
    progress(f"added {target} (deb-src mirroring {DEBIAN_SOURCES}); running apt-get update")
    _record("deb_src_file", str(target))
    _apt(
        ["apt-get", "update", "-q"],
        dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        pins.timeout("apt_update"),
        "apt-get update",
    )
    return target


def _has_deb_src() -> bool:
    files = [SOURCES_LIST, *Path("/etc/apt/sources.list.d").glob("*")]
    for f in files:
        if not f.is_file() or not (f.name.endswith(".list") or f.name.endswith(".sources")):
            continue
        for line in f.read_text(errors="replace").splitlines():
            s = line.strip()
            if s.startswith("deb-src ") or (s.startswith("Types:") and "deb-src" in s):
                return True
    return False


def _apt(argv: list[str], env: dict[str, str], timeout: float, what: str) -> None:
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TargetUnavailable(
            f"{what} took more than {timeout:.0f}s: check the network to the Debian mirror"
        ) from None
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise TargetUnavailable(f"{what} failed (exit {out.returncode}): {' / '.join(tail)}")


def record_path() -> Path:
    return cache_dir() / "node" / RECORD


def recorded() -> dict:
    try:
        return json.loads(record_path().read_text())
    except (OSError, ValueError):
        return {}


def _recorded(key: str) -> list:
    return list(recorded().get(key, []))


def _record(key: str, value) -> None:
    data = recorded()
    data[key] = value
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
