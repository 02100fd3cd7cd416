"""The pinned Enterprise Gateway sdist: the source of EG's helm chart, kernelspecs and launchers.

EG publishes its chart and its kernel support files (bootstrap-kernel.sh, the launchers, the
kubernetes kernelspecs) only in the source distribution, so the kind target takes them from
the same release the local target tests, fetched once with pip from the package index,
checked against the sha256 in clusters/kind/kind.json and unpacked into the cache.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import cache_dir, locked
from eg_harness.targets.kind.pins import Pins, load_pins


@dataclass(frozen=True)
class EgDist:
    """An unpacked EG sdist: `root` is its top folder (jupyter_enterprise_gateway-X.Y.Z)."""

    root: Path
    version: str

    def path(self, member: str) -> Path:
        found = self.root / member
        if not found.exists():
            raise TargetUnavailable(
                f"EG {self.version} sdist has no {member}: the pin in clusters/kind/kind.json "
                "does not match the layout the kind target expects"
            )
        return found

    @property
    def chart_dir(self) -> Path:
        return self.path(load_pins().eg["chart_path"])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_eg_dist(progress=print, pins: Pins | None = None) -> EgDist:
    """The unpacked sdist from the cache, fetched and verified on first use."""
    pins = pins or load_pins()
    eg = pins.eg
    base = cache_dir() / "kind" / "eg-sdist"
    dest = base / f"{eg['version']}-{eg['sdist_sha256'][:12]}"
    marker = dest / ".eg-harness-complete"
    root = dest / eg["sdist"].removesuffix(".tar.gz")
    if marker.exists():
        return EgDist(root, eg["version"])
    with locked(base / f".{dest.name}.lock"):
        if marker.exists():
            return EgDist(root, eg["version"])
        progress(f"fetching the EG {eg['version']} sdist (its helm chart and kernel files)")
        with tempfile.TemporaryDirectory(prefix="eg-harness-sdist-") as tmp:
            archive = _download(eg, Path(tmp))
            got = _sha256(archive)
            if got != eg["sdist_sha256"]:
                raise TargetUnavailable(
                    f"{archive.name} has sha256 {got}, not the pinned {eg['sdist_sha256']}: "
                    "the package index served another file; check the index configuration"
                )
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(dest, filter="data")
                else:  # Python 3.10 before the filter backport; the file's hash is pinned
                    tar.extractall(dest)  # noqa: S202
        marker.write_text(eg["sdist_sha256"])
    return EgDist(root, eg["version"])


def _download(eg: dict, into: Path) -> Path:
    name = eg["sdist"].split("-")[0]
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--quiet",
        "--dest",
        str(into),
        f"{name}=={eg['version']}",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    archive = into / eg["sdist"]
    if proc.returncode != 0 or not archive.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TargetUnavailable(
            f"could not fetch {eg['sdist']} with pip ({tail[0]}): check access to the package "
            "index, or put the file in the pip cache"
        )
    return archive
