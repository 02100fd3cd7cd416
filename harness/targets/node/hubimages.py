"""The node target's hub images (single-user server, hub, proxy), built like its other images.

The same builder as images.py (the Debian base, podman, `--network none`, content tags,
`build_image`, `export_image`), with a catalogue of its own (clusters/node/hub/images.json):
the node provider's staging downloads every image's wheels under the local gateway's lock
(jupyter_server 1.24), and these images need other locks (jupyter_server 2.21 for the user
server; z2jh 3.2.1's JupyterHub 4.0.2 and KubeSpawner 6.2.0, which the audit executes, for
the hub). What a build cannot fetch for itself is fetched beforehand and goes into the context,
so into the tag: wheels downloaded on the host, Debian packages the base lacks downloaded by apt
in a container of that very base (so the dependency closure is the base's), and an npm package
installed on the host.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import eg_harness
from eg_harness import resources
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import locked
from eg_harness.targets.kind.egdist import EgDist
from eg_harness.targets.kind.images import WHEELS_DIR, Image, context_digest
from eg_harness.targets.node.images import (
    PIP_INSTALL_OPTIONS,
    PODMAN_LIMITS,
    build_image,
    build_node_images,
    ensure_base,
    node_dir,
    podman_refs,
    run_tool,
    wheelhouse,
    wheels_key,
)

Progress = Callable[[str], None]

HUB_IMAGES_DIR = resources.CLUSTERS / "node" / "hub" / "images"
CATALOGUE = resources.CLUSTERS / "node" / "hub" / "images.json"
HARNESS_DIR = Path(eg_harness.__file__).resolve().parent
NAMES = ("singleuser", "hub", "proxy")
SPARK_NAMES = ("kernel-spark-py", "enterprise-gateway-spark")
WHEEL_BOUND_S = 900  # PySpark's sdist is 450 MB
DEBS_BOUND_S = 600
NPM_BOUND_S = 600


def catalogue() -> dict[str, dict]:
    return json.loads(CATALOGUE.read_text())["images"]


def constraints_file(spec: dict) -> Path:
    """The lock an image's wheels are constrained by, less the packages it must not pin (the
    single-user side takes the hub's JupyterHub, not the local hub lock's)."""
    lock = resources.CLUSTERS / spec["constraints"]
    dropped = {d.lower().replace("_", "-") for d in spec.get("drop_constraints", [])}
    if not dropped:
        return lock
    kept = [
        line
        for line in lock.read_text().splitlines()
        if line.split("==")[0].strip().lower().replace("_", "-") not in dropped
    ]
    text = "\n".join(kept) + "\n"
    out = node_dir() / "constraints" / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.txt"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return out


def debs(packages: list[str], base: str, progress: Progress) -> Path:
    """The .debs of `packages` and of what the base lacks of their dependencies, downloaded by
    apt inside a container of the base (the only step with the network), cached by both."""
    key = hashlib.sha256(json.dumps([base, sorted(packages)]).encode()).hexdigest()[:16]
    dest = node_dir() / "debs" / key
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked(dest.parent / f".{key}.lock"):
        if (dest / ".complete").exists():
            return dest
        progress(
            f"downloading {', '.join(packages)} for the base with apt (at most {DEBS_BOUND_S} s)"
        )
        tmp = Path(tempfile.mkdtemp(prefix=".debs-", dir=dest.parent))
        try:
            script = (
                "apt-get update -qq && apt-get install -y -qq --download-only "
                f"--no-install-recommends {' '.join(packages)}"
            )
            argv = ["podman", "run", "--rm", "--network", "host", "--user", "root", *PODMAN_LIMITS]
            argv += ["-v", f"{tmp}:/var/cache/apt/archives", base, "bash", "-c", script]
            run_tool(argv, "apt-get download in the base", DEBS_BOUND_S, progress)
            got = sorted(p.name for p in tmp.glob("*.deb"))
            if not got:
                raise TargetUnavailable(f"apt downloaded no .deb for {packages} in the base {base}")
            for extra in tmp.iterdir():
                if extra.suffix != ".deb":
                    shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
            (tmp / ".complete").write_text("\n".join(got) + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def npm_package(spec: str, progress: Progress) -> Path:
    """`npm install spec` (production dependencies) made on the host, cached by the spec."""
    key = hashlib.sha256(spec.encode()).hexdigest()[:16]
    dest = node_dir() / "npm" / key
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked(dest.parent / f".{key}.lock"):
        if (dest / ".complete").exists():
            return dest
        progress(f"npm install {spec} on the host (at most {NPM_BOUND_S} s)")
        tmp = Path(tempfile.mkdtemp(prefix=".npm-", dir=dest.parent))
        try:
            argv = ["npm", "install", "--prefix", str(tmp), "--omit=dev", "--no-audit"]
            argv += ["--no-fund", "--no-update-notifier", spec]
            run_tool(argv, "npm install", NPM_BOUND_S, progress)
            (tmp / ".complete").write_text(spec + "\n")
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def built_wheels(requirements: Path, progress: Progress, constraints: Path) -> Path:
    """`pip wheel` of `requirements` on the host (sdists built here: PyPI has no wheel of
    PySpark), cached by the requirements and constraints like a wheelhouse."""
    key = wheels_key(requirements, constraints)
    dest = node_dir() / "wheels" / f"built-{key}"
    if (dest / ".complete").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked(dest.parent / f".built-{key}.lock"):
        if (dest / ".complete").exists():
            return dest
        progress(f"building wheels of {requirements.name} on the host (at most {WHEEL_BOUND_S} s)")
        tmp = Path(tempfile.mkdtemp(prefix=".built-", dir=dest.parent))
        try:
            argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(tmp)]
            argv += ["--constraint", str(constraints), "-r", str(requirements)]
            run_tool(argv, "pip wheel", WHEEL_BOUND_S, progress)
            (tmp / ".complete").write_text(requirements.read_text())
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _stage(
    name: str, spec: dict, base: str, root: Path, progress: Progress, debian_base: str
) -> Image:
    work = root / f"{name}.staging"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(HUB_IMAGES_DIR / name, work)
    if spec.get("wheels"):
        fetch = built_wheels if spec.get("wheels_built_on_host") else wheelhouse
        wheels = fetch(work / spec["wheels"], progress, constraints=constraints_file(spec))
        (work / WHEELS_DIR).mkdir(exist_ok=True)
        for wheel in sorted(wheels.glob("*.whl")):
            shutil.copy2(wheel, work / WHEELS_DIR / wheel.name)
    for src, rel in spec.get("harness_files", {}).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(HARNESS_DIR / src, work / rel)
    if spec.get("debs"):
        shutil.copytree(debs(spec["debs"], debian_base, progress), work / "debs", ignore=_no_marker)
    if spec.get("npm"):
        shutil.copytree(
            npm_package(spec["npm"], progress), work / "chp", symlinks=True, ignore=_no_marker
        )
    build_args = {"BASE_IMAGE": base}
    if spec.get("wheels"):
        build_args["PIP_INSTALL_OPTIONS"] = PIP_INSTALL_OPTIONS
    digest = context_digest(work, build_args)
    final = root / f"{name}-{digest[:16]}"
    if final.exists():
        shutil.rmtree(work)
    else:
        work.rename(final)
    return Image(name, spec.get("what", name), final, digest, build_args)


def _no_marker(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == ".complete"]


def stage_hub_images(
    progress: Progress = print, names=NAMES, bases: dict[str, str] | None = None
) -> list[Image]:
    """Stage `names`; an entry with 'base_image' is built on that node image (`bases`: name ->
    its reference, from images.build_node_images), the others on the Debian base."""
    debian_base = ensure_base(progress)
    root = node_dir() / "contexts"
    root.mkdir(parents=True, exist_ok=True)
    specs = catalogue()
    staged = []
    with locked(root / ".hub-staging.lock"):
        for name in names:
            spec = specs[name]
            base = (bases or {})[spec["base_image"]] if spec.get("base_image") else debian_base
            staged.append(_stage(name, spec, base, root, progress, debian_base))
    return staged


def build_hub_images(progress: Progress = print, names=NAMES) -> dict[str, Image]:
    """Stage and build the hub's images (each once per content tag); name -> Image."""
    return {image.name: build_image(image, progress) for image in stage_hub_images(progress, names)}


def build_spark_images(eg: EgDist, progress: Progress = print) -> dict[str, Image]:
    """The Spark driver image and the gateway image with Spark, on the node provider's
    kernel-py and enterprise-gateway images (built first if they are not)."""
    wanted = [n for n in SPARK_NAMES if catalogue()[n].get("base_image")]
    under = sorted({catalogue()[n]["base_image"] for n in wanted})
    # the podman names (localhost/...) so that FROM finds them without a registry
    bases = {i.name: podman_refs(i)[0] for i in build_node_images(under, eg, progress)}
    staged = stage_hub_images(progress, SPARK_NAMES, bases)
    return {image.name: build_image(image, progress) for image in staged}
