"""Images of a few static files, written as docker-archive tarballs for `ctr images import`.

The pause container (and the self-test's probe) need no distribution: one layer holding a
static binary is an image. Writing the archive here keeps the sandbox image free of podman and
of any base, and its tag is the content hash of the layer, never :latest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path


def _layer(files: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, src in sorted(files.items()):
            data = src.read_bytes()
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def content_tag(files: dict[str, Path], entrypoint: list[str]) -> str:
    h = hashlib.sha256(_layer(files))
    h.update(json.dumps(entrypoint).encode())
    return h.hexdigest()[:16]


def write_archive(out: Path, repo: str, files: dict[str, Path], entrypoint: list[str]) -> str:
    """Write `out` (docker-archive) and return its reference `repo:<content hash>`."""
    layer = _layer(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": ["PATH=/"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "eg-harness tinyimage"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    ref = f"{repo}:{content_tag(files, entrypoint)}"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]
    with tarfile.open(out, "w") as tar:
        for name, data in (
            ("layer.tar", layer),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return ref
