"""The node target's images, built without a registry: a Debian root filesystem made here with
mmdebstrap, then the kind target's build contexts built on it with podman.

No base image can be pulled on these machines, so the base is made from Debian's packages
(bookworm minbase, Python 3.11 in a venv first on the PATH and owned by jovyan 1000:100, the
shape of the notebook images the seed builds on), imported into podman with a tag that is the
hash of everything mmdebstrap is given, and kept as a tarball in the cache too, so a lost
podman store re-imports in seconds instead of debootstrapping again. The contexts are the kind
target's (`clusters/kind/images/`, `kind.images.stage_all`), with this base as their
BASE_IMAGE build argument and the wheels of their requirements downloaded on the host
beforehand: builds run with `--network none`, so what goes into an image is what the tag says.

Names: an image is tagged `localhost/eg-harness/NAME:TAG` (what podman resolves the short
name `eg-harness/NAME:TAG` to, for a FROM of one image on another) and
`docker.io/eg-harness/NAME:TAG`, the name the kubelet and containerd's CRI give the short
reference the chart and the kernelspecs carry; the archive for `ctr images import` carries that
second name, so a pod's `eg-harness/NAME:TAG` finds the imported image without a registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from eg_harness import resources
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.runtime import processes
from eg_harness.runtime import versions as version_sets
from eg_harness.runtime.envs import cache_dir, locked
from eg_harness.targets.kind.egdist import EgDist
from eg_harness.targets.kind.images import HASH_LABEL, REPOSITORY, Image, stage_all

Progress = Callable[[str], None]

VENV = "/opt/venv"
# The PATH of every image on the base: the gateway's and the kernel's agree, because the chart's
# EG_INHERITED_ENVS=PATH hands the gateway's PATH to each kernel pod (a kernel image whose
# python is not on it dies with "python: command not found" and EG waits out its timeout).
IMAGE_PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Where a Dockerfile copies its wheels/ (clusters/kind/images/*/Dockerfile).
WHEELS_IN_IMAGE = "/tmp/eg-wheels"
PIP_INSTALL_OPTIONS = f"--no-index --find-links {WHEELS_IN_IMAGE}"
# Without these podman's runc fails here with "error setting rlimit type 7/6".
PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
# The wheels' interpreter and platforms: bookworm's Python 3.11 on glibc 2.36.
WHEEL_TARGET = (
    "--only-binary",
    ":all:",
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
)
# The versions the local target's gateway runs: the node images' dependencies take them.
CONSTRAINTS = resources.LOCAL_CLUSTER / "gateway.lock"
# EG releases besides the kind pins' (an upgrade's A): sdists and what their images pin.
EG_RELEASES = resources.CLUSTERS / "node" / "eg-releases.json"
EG_DISTRIBUTION = "jupyter_enterprise_gateway"  # the pin pin_eg sets in a staged context
# Bounds (seconds). Cold here: mmdebstrap ~60 s, a build ~20 s, a save ~10 s; CI is slower.
TIMEOUTS = {
    "mmdebstrap": 900,
    "import": 180,
    "wheels": 600,
    "build": 900,
    "save": 300,
    "podman": 60,
}
HEARTBEAT_S = 15.0


@dataclass(frozen=True)
class BaseSpec:
    """Everything mmdebstrap and `podman import` are given: its hash is the base's tag."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = (
        "python3",
        "python3-venv",
        "python3-pip",
        "ca-certificates",
        "procps",  # ps and kill: EG's launchers and anyone debugging a pod
    )
    mirrors: tuple[str, ...] = (
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    )
    # Run inside the new root: the notebook images' user, and the venv jovyan owns (as
    # docker-stacks' conda), so every Dockerfile's `pip install` as jovyan lands there.
    hooks: tuple[str, ...] = (
        'chroot "$1" useradd --uid 1000 --gid 100 --create-home --shell /bin/bash jovyan',
        f'chroot "$1" python3 -m venv {VENV}',
        f'chroot "$1" chown -R 1000:100 {VENV}',
    )
    changes: tuple[str, ...] = (
        f"ENV PATH={IMAGE_PATH}",
        "ENV LANG=C.UTF-8",
        "USER jovyan",
        "WORKDIR /home/jovyan",
        'CMD ["/bin/bash"]',
    )

    @property
    def digest(self) -> str:
        doc = {k: getattr(self, k) for k in ("suite", "variant", "packages", "mirrors", "hooks")}
        doc["changes"] = self.changes
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    @property
    def tag(self) -> str:
        return self.digest[:16]

    @property
    def ref(self) -> str:
        return f"localhost/{REPOSITORY}/debian-base:{self.tag}"

    def mmdebstrap_argv(self, out: Path) -> list[str]:
        argv = [
            "mmdebstrap",
            f"--variant={self.variant}",
            f"--include={','.join(self.packages)}",
        ]
        argv += [f"--customize-hook={hook}" for hook in self.hooks]
        return [*argv, self.suite, str(out), *self.mirrors]

    def import_argv(self, tarball: Path) -> list[str]:
        argv = ["podman", "import"]
        for change in (*self.changes, f"LABEL {HASH_LABEL}={self.digest}"):
            argv += ["--change", change]
        return [*argv, str(tarball), self.ref]


BASE = BaseSpec()


def node_dir() -> Path:
    path = cache_dir() / "node"
    path.mkdir(parents=True, exist_ok=True)
    return path


def base_tarball(spec: BaseSpec = BASE) -> Path:
    return node_dir() / f"base-{spec.tag}.tar"


def podman_refs(image: Image) -> tuple[str, str]:
    """The names an image gets in podman: its short name as podman and as the CRI resolve it."""
    return f"localhost/{image.ref}", f"docker.io/{image.ref}"


def cri_ref(image: Image) -> str:
    """The name containerd's CRI looks up for the chart's and kernelspecs' `image.ref`."""
    return podman_refs(image)[1]


def archive_path(image: Image) -> Path:
    return node_dir() / "archives" / f"{image.name}-{image.tag}.tar"


# --- running tools ----------------------------------------------------------------------------


def run_tool(
    argv: list[str],
    what: str,
    timeout: float,
    progress: Progress,
    shown: Callable[[str], bool] = lambda line: False,
) -> list[str]:
    """Run a build tool in its own process group, bounded: the lines `shown` selects go to
    progress as they come, a heartbeat says it is alive, and a timeout or Ctrl-C kills the
    whole group (podman's and mmdebstrap's children too). Returns the output's lines."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError:
        raise TargetUnavailable(
            f"{argv[0]} is not installed: apt-get install {argv[0]} (needed to {what})"
        ) from None
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            lines.append(line)
            if shown(line):
                progress(f"  {what} [{time.monotonic() - started:.0f}s] {line}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while True:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                processes.kill_group(proc)
                raise TargetUnavailable(
                    f"{what} did not finish within its bound of {timeout:.0f} s (killed); "
                    f"last output: {(lines or ['none'])[-1]!r}"
                )
            try:
                proc.wait(min(HEARTBEAT_S, left))
                break
            except subprocess.TimeoutExpired:
                progress(
                    f"  {what}: still running, {time.monotonic() - started:.0f}s "
                    f"of at most {timeout:.0f}s"
                )
    except BaseException:
        processes.kill_group(proc)
        raise
    reader.join(5)
    if proc.returncode != 0:
        tail = [line for line in lines if line.strip()][-3:] or ["no output"]
        raise TargetUnavailable(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return lines


def _podman(*args: str, timeout: float = TIMEOUTS["podman"]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise TargetUnavailable("podman is not installed: apt-get install podman") from None


def podman_has(ref: str) -> bool:
    return _podman("image", "exists", ref).returncode == 0


# A killed `podman build` (timeout, Ctrl-C, a SIGKILLed harness) leaves buildah's working
# container in podman's storage and, if it died during a RUN step, that step's runc container
# still running in a session of its own (out of reach of a process-group kill), with its state
# in /run/runc and its bundle in /var/tmp/buildahNNN. Builds hold the machine's build lock, so
# whoever holds it (or can take it) knows none of these belongs to a build in progress.
BUILD_LOCK = ".build.lock"
RUNC_PREFIX = "buildah-buildah"
WORKING_SUFFIX = "-working-container"


def _ours(image_name: str) -> bool:
    return image_name.startswith((f"localhost/{REPOSITORY}/", f"docker.io/{REPOSITORY}/"))


def _sweep_killed_builds() -> list[str]:
    """Remove what killed builds left; the caller holds the build lock."""
    removed = []
    with contextlib.suppress(FileNotFoundError, subprocess.TimeoutExpired, ValueError):
        out = subprocess.run(
            ["runc", "list", "--format", "json"], capture_output=True, text=True, timeout=30
        )
        for entry in json.loads(out.stdout or "null") or []:
            if not str(entry.get("id", "")).startswith(RUNC_PREFIX):
                continue
            subprocess.run(
                ["runc", "delete", "--force", entry["id"]], capture_output=True, timeout=30
            )
            bundle = Path(entry.get("bundle") or "")
            if bundle.parent == Path("/var/tmp") and bundle.name.startswith("buildah"):
                shutil.rmtree(bundle, ignore_errors=True)
            removed.append(f"build step container {entry['id']} ({entry.get('status')})")
    out = _podman("ps", "--all", "--external", "--format", "json")
    with contextlib.suppress(ValueError):
        for container in json.loads(out.stdout or "null") or []:
            names = container.get("Names") or []
            if any(n.endswith(WORKING_SUFFIX) for n in names) and _ours(container.get("Image", "")):
                _podman("rm", "--force", container["Id"])
                removed.append(f"build container {', '.join(names)}")
    return removed


def sweep_build_leftovers() -> list[str]:
    """What killed image builds left (for `down` after a SIGKILLed run): removed unless a build
    is running now. Returns what was removed."""
    lock_path = node_dir() / BUILD_LOCK
    with open(lock_path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # a build is running: what is there is its own
        try:
            return _sweep_killed_builds()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _no_leftover_containers():
    """`--force-rm` cleans up after a build that ends by itself; one that is killed (bound,
    Ctrl-C) leaves its containers: swept here, under the build lock the caller holds."""
    try:
        yield
    except BaseException:
        _sweep_killed_builds()
        raise


# --- the base ---------------------------------------------------------------------------------


def ensure_base(progress: Progress = print, spec: BaseSpec = BASE) -> str:
    """The podman reference of the Debian base: from podman's store, else re-imported from the
    cached tarball, else made with mmdebstrap (about a minute; bounded)."""
    if os.geteuid() != 0:
        raise TargetUnavailable(
            "the node target's images need root (mmdebstrap and podman's system store): "
            "run as root, e.g. sudo -E"
        )
    if podman_has(spec.ref):
        return spec.ref
    tarball = base_tarball(spec)
    with locked(node_dir() / f".base-{spec.tag}.lock"):
        if podman_has(spec.ref):
            return spec.ref
        if not tarball.exists():
            _mmdebstrap(spec, tarball, progress)
        progress(f"importing the Debian base into podman as {spec.ref}")
        run_tool(spec.import_argv(tarball), "podman import", TIMEOUTS["import"], progress)
    return spec.ref


def _mmdebstrap(spec: BaseSpec, tarball: Path, progress: Progress) -> None:
    progress(
        f"making the Debian {spec.suite} {spec.variant} base with mmdebstrap "
        f"(+{', '.join(spec.packages)}; about a minute, at most {TIMEOUTS['mmdebstrap']} s)"
    )
    with tempfile.TemporaryDirectory(prefix=".base-", dir=tarball.parent) as tmp:
        out = Path(tmp) / tarball.name
        run_tool(
            spec.mmdebstrap_argv(out),
            "mmdebstrap",
            TIMEOUTS["mmdebstrap"],
            progress,
            shown=lambda line: line.startswith(
                ("I: running apt", "I: downloading", "I: install", "I: success")
            ),
        )
        out.rename(tarball)
    for old in tarball.parent.glob("base-*.tar"):  # a base of other inputs is not used again
        if old != tarball and re.fullmatch(r"base-[0-9a-f]{16}\.tar", old.name):
            old.unlink()


# --- wheels -----------------------------------------------------------------------------------


def wheels_key(requirements: Path, constraints: Path = CONSTRAINTS) -> str:
    h = hashlib.sha256()
    h.update(requirements.read_bytes())
    h.update(b"\0")
    h.update(constraints.read_bytes())
    h.update(json.dumps(WHEEL_TARGET).encode())
    return h.hexdigest()[:16]


def wheelhouse(
    requirements: Path, progress: Progress = print, constraints: Path = CONSTRAINTS
) -> Path:
    """The wheels of `requirements` for the base's Python, downloaded once on the host with the
    local gateway's lock as constraints, cached by what decides them."""
    dest = node_dir() / "wheels" / wheels_key(requirements, constraints)
    marker = dest / ".complete"
    if marker.exists():
        return dest
    with locked(dest.parent / f".{dest.name}.lock"):
        if marker.exists():
            return dest
        progress(
            f"downloading wheels for {requirements.parent.name.removesuffix('.staging')}"
            f"/{requirements.name} (at most {TIMEOUTS['wheels']} s)"
        )
        tmp = Path(tempfile.mkdtemp(prefix=".wheels-", dir=dest.parent))
        try:
            argv = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(tmp)]
            argv += [*WHEEL_TARGET, "--constraint", str(constraints), "-r", str(requirements)]
            run_tool(argv, "pip download", TIMEOUTS["wheels"], progress)
            (tmp / ".complete").write_text(requirements.read_text())
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --- the images -------------------------------------------------------------------------------


def gateway_constraints(eg_version: str, progress: Progress = print) -> Path:
    """The lock the images of EG `eg_version` take their dependencies from: today's
    gateway.lock for today's EG, that release's gateway lock otherwise (committed, e.g.
    clusters/local/gateway-3.2.3.lock, or locked once into the cache): an upgrade's A images run
    the same EG and dependencies as the local target's A gateway, except what the release's
    `image_pins` in clusters/node/eg-releases.json pin over it (a derived file in the cache)."""
    at = replace(version_sets.current(), gateway=eg_version)
    lock = version_sets.lockfile("gateway", at, progress)
    pins = release_image_pins(eg_version)
    if not pins:
        return lock
    text = lock.read_text()
    for dist, version in sorted(pins.items()):
        text, found = re.subn(
            rf"^{re.escape(dist)}==\S+[ \t]*$", f"{dist}=={version}", text, flags=re.MULTILINE
        )
        if not found:
            text += f"{dist}=={version}\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    out = node_dir() / "constraints" / f"gateway-{eg_version}-{digest}.txt"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(out)
    return out


def release_image_pins(eg_version: str) -> dict[str, str]:
    """What a release's images pin over its gateway lock (clusters/node/eg-releases.json's
    `image_pins`, each with its reason there): none for today's release."""
    if not EG_RELEASES.exists():
        return {}
    release = json.loads(EG_RELEASES.read_text()).get("releases", {}).get(eg_version) or {}
    return dict(release.get("image_pins") or {})


def pin_eg(requirements: Path, eg_version: str) -> Path:
    """A staged requirements file with its EG pin set to the sdist's release (the context's
    text, so the image's tag says which EG it holds); files without the pin are left alone."""
    text = requirements.read_text()
    pinned = re.sub(
        rf"^{EG_DISTRIBUTION}==\S+[ \t]*$",
        f"{EG_DISTRIBUTION}=={eg_version}",
        text,
        flags=re.MULTILINE,
    )
    if pinned != text:
        requirements.write_text(pinned)
    return requirements


def stage_node_images(eg: EgDist, progress: Progress = print) -> list[Image]:
    """The kind target's contexts, staged for node: the Debian base as BASE_IMAGE, the wheels
    in wheels/, install options that need no network. Tags follow from all of it. The EG release
    is the sdist's (`eg.version`): the gateway image's pin and every image's constraints follow
    it, so today's release stages exactly as before and another one (an upgrade's A) gets its
    own wheels and tags."""
    base = ensure_base(progress)
    constraints = gateway_constraints(eg.version, progress)
    root = node_dir() / "contexts"
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".staging.lock"):
        return stage_all(
            eg,
            root,
            provider="node",
            provider_args={"BASE_IMAGE": base, "PIP_INSTALL_OPTIONS": PIP_INSTALL_OPTIONS},
            wheelhouse=lambda req: wheelhouse(pin_eg(req, eg.version), progress, constraints),
        )


def build_argv(image: Image) -> list[str]:
    argv = ["podman", "build", "--format", "docker", "--network", "none", *PODMAN_LIMITS]
    argv += ["--force-rm", "--pull=never"]
    for ref in podman_refs(image):
        argv += ["--tag", ref]
    argv += ["--label", f"{HASH_LABEL}={image.digest}"]
    for key, value in image.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    return [*argv, str(image.context)]


def _with_dependencies(wanted: Iterable[str], images: list[Image]) -> list[Image]:
    """The images to build, in build order: the wanted ones and those they are built FROM."""
    by_ref = {i.ref: i for i in images}
    by_name = {i.name: i for i in images}
    todo = set(wanted)
    changed = True
    while changed:
        changed = False
        for name in list(todo):
            for value in by_name[name].build_args.values():
                dep = by_ref.get(value)
                if dep is not None and dep.name not in todo:
                    todo.add(dep.name)
                    changed = True
    return [i for i in images if i.name in todo]


def build_node_images(names: list[str], eg: EgDist, progress: Progress = print) -> list[Image]:
    """Build `names` (and what they are built on) with podman on the Debian base, each once
    per content tag: an image already in podman's store is reused. Returns them in `names`'
    order; `Image.ref` is what the chart and kernelspecs name, `cri_ref` what containerd keeps."""
    images = stage_node_images(eg, progress)
    by_name = {i.name: i for i in images}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(
            f"no node image named {', '.join(unknown)}: the node provider builds "
            f"{', '.join(by_name)} (clusters/kind/images/images.json 'providers')"
        )
    for image in _with_dependencies(names, images):
        build_image(image, progress)
    return [by_name[n] for n in names]


def build_image(image: Image, progress: Progress = print) -> Image:
    """Build one staged image with podman unless its content tag is in the store already
    (also for contexts staged elsewhere, e.g. a seeded fault's variant of one)."""
    if podman_has(cri_ref(image)):
        progress(f"image {image.ref}: cached")
        return image
    # one build at a time on a machine: two cores gain nothing from more, and a killed
    # build's leftovers are then surely this build's
    with locked(node_dir() / BUILD_LOCK):
        if not podman_has(cri_ref(image)):  # another process may have built it meanwhile
            _build(image, progress)
    return image


def _build(image: Image, progress: Progress) -> None:
    progress(f"building {image.ref} with podman (at most {TIMEOUTS['build']} s)")
    started = time.monotonic()
    with _no_leftover_containers():
        run_tool(
            build_argv(image),
            f"podman build {image.name}",
            TIMEOUTS["build"],
            progress,
            shown=lambda line: line.startswith("STEP "),
        )
    progress(f"built {image.ref} in {time.monotonic() - started:.1f}s")


def export_image(image: Image, progress: Progress = print) -> Path:
    """A docker-archive of the image for `ctr -n k8s.io images import`, carrying the name the
    CRI looks up; cached by tag (older tags of the same image are removed)."""
    dest = archive_path(image)
    if dest.exists():
        return dest
    if not podman_has(cri_ref(image)):
        raise TargetUnavailable(
            f"{image.ref} is not in podman's store: build it first (build_node_images)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with locked(dest.parent / f".{dest.name}.lock"):
        if dest.exists():
            return dest
        progress(f"saving {image.ref} for containerd")
        with tempfile.TemporaryDirectory(prefix=".save-", dir=dest.parent) as tmp:
            out = Path(tmp) / dest.name
            argv = ["podman", "save", "--format", "docker-archive", "--output", str(out)]
            run_tool([*argv, cri_ref(image)], "podman save", TIMEOUTS["save"], progress)
            out.rename(dest)
        same_image = re.compile(rf"{re.escape(image.name)}-[0-9a-f]{{16}}\.tar")
        for old in dest.parent.iterdir():
            if old != dest and same_image.fullmatch(old.name):
                old.unlink()
    return dest
