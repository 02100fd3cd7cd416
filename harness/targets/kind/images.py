"""Image build contexts, staged from clusters/kind/images/ and the pinned EG sdist, and their tags.

A tag is the sha256 of everything the build sees (every file of the staged context with its
path and executable bit, and the build arguments, which name other images by their own
content tags), so an image is rebuilt exactly when something it is built from changed, a
cached one is reused across runs, and no reference is ever `:latest`.

The kind and node targets build the same contexts. A provider stages the images images.json
lists for it; the node provider also hands in build arguments for the ARGs a Dockerfile
declares before its FROM (its Debian base instead of the seed's) and the wheels of an image's
requirements, because its builds have no network. Both go into the tag like any other input.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eg_harness.targets.kind.egdist import EgDist
from eg_harness.targets.kind.pins import IMAGES_DIR

REPOSITORY = "eg-harness"
HASH_LABEL = "eg-harness.content-hash"
PROVIDERS = ("kind", "node")
WHEELS_DIR = "wheels"

# Given a requirements file of a staged context, the folder of wheels to stage beside it.
Wheelhouse = Callable[[Path], Path]


@dataclass(frozen=True)
class Image:
    """One image to build: where its staged context is and what reference it gets."""

    name: str
    what: str
    context: Path
    digest: str  # sha256 of the staged context and build args
    build_args: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return self.digest[:16]

    @property
    def ref(self) -> str:
        return f"{REPOSITORY}/{self.name}:{self.tag}"


def manifest(images_dir: Path = IMAGES_DIR) -> dict:
    return json.loads((images_dir / "images.json").read_text())["images"]


def providers_of(spec: dict) -> tuple[str, ...]:
    return tuple(spec.get("providers", PROVIDERS))


_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s", re.IGNORECASE)


def declared_args(dockerfile: str) -> set[str]:
    """The build arguments a Dockerfile declares anywhere (an ARG before FROM sets the base)."""
    return {m.group(1) for line in dockerfile.splitlines() if (m := _ARG.match(line))}


def base_args(dockerfile: str) -> set[str]:
    """The ARGs declared before the first FROM: the only ones a FROM line can use."""
    found = set()
    for line in dockerfile.splitlines():
        if _FROM.match(line):
            break
        if m := _ARG.match(line):
            found.add(m.group(1))
    return found


def context_digest(context: Path, build_args: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        executable = os.access(path, os.X_OK)
        h.update(f"{rel}\0{int(executable)}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(json.dumps(build_args, sort_keys=True).encode())
    return h.hexdigest()


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)


def _stage_kernelspec(
    name: str,
    spec: dict,
    eg: EgDist,
    dest: Path,
    refs: dict[str, str],
    unbuilt: frozenset[str] = frozenset(),
) -> None:
    """One kubernetes kernelspec, assembled as EG's etc/Makefile does: the kernelspec, then the
    kubernetes launcher files, then the language's resources (logos). An image this provider
    does not build (`unbuilt`) keeps EG's own reference."""
    out = dest / name
    _copy(eg.path(f"etc/kernelspecs/{name}"), out)
    for item in eg.path("etc/kernel-launchers/kubernetes").iterdir():
        _copy(item, out / item.name)
    for item in eg.path("etc/kernel-resources/python").iterdir():
        _copy(item, out / item.name)
    kernel_json = out / "kernel.json"
    doc = json.loads(kernel_json.read_text())
    config = doc["metadata"]["process_proxy"]["config"]
    for key, image_name in spec.items():
        if key not in config:
            raise KeyError(f"EG's {name}/kernel.json has no process_proxy.config.{key}")
        if image_name in unbuilt:
            continue
        config[key] = refs[image_name]
    kernel_json.write_text(json.dumps(doc, indent=2) + "\n")


def stage_all(
    eg: EgDist,
    staging_root: Path,
    images_dir: Path = IMAGES_DIR,
    *,
    provider: str = "kind",
    provider_args: dict[str, str] | None = None,
    wheelhouse: Wheelhouse | None = None,
) -> list[Image]:
    """Stage the build context of every image `provider` builds under `staging_root`, in build
    order, with its tag.

    `provider_args` are build arguments for the ARGs a Dockerfile declares that its images.json
    entry does not set itself (kernel-spark-py's BASE_IMAGE is kernel-py, whatever the
    provider); `wheelhouse` fills wheels/ for an entry that names a requirements file.
    """
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}: one of {', '.join(PROVIDERS)}")
    specs = manifest(images_dir)
    unbuilt = frozenset(n for n, spec in specs.items() if provider not in providers_of(spec))
    refs: dict[str, str] = {}
    images = []
    for name, spec in specs.items():
        if name in unbuilt:
            continue
        work = staging_root / f"{name}.staging"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(images_dir / name, work)
        for member, rel in spec.get("eg_files", {}).items():
            _copy(eg.path(member), work / rel)
        for spec_name, images_of in spec.get("kernelspecs", {}).items():
            _stage_kernelspec(spec_name, images_of, eg, work / "kernels", refs, unbuilt)
        if wheelhouse is not None and spec.get("wheels"):
            for wheel in sorted(wheelhouse(work / spec["wheels"]).glob("*.whl")):
                _copy(wheel, work / WHEELS_DIR / wheel.name)
        build_args = {arg: refs[image] for arg, image in spec.get("build_args", {}).items()}
        declared = declared_args((work / "Dockerfile").read_text())
        for arg, value in (provider_args or {}).items():
            if arg in declared and arg not in build_args:
                build_args[arg] = value
        digest = context_digest(work, build_args)
        final = staging_root / f"{name}-{digest[:16]}"
        if final.exists():
            shutil.rmtree(work)
        else:
            work.rename(final)
        image = Image(name, spec.get("what", name), final, digest, build_args)
        refs[name] = image.ref
        images.append(image)
    return images
