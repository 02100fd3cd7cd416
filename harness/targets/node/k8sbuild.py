"""Kubernetes binaries for the node target, built once from Debian's source package and cached.

No registry here offers a Kubernetes binary; Debian bookworm ships the source of v1.20.2
(package ``kubernetes``) and its Go. Module mode fails on that tree ("updates to go.mod
needed"), GOPATH mode works (../shared/KUBERNETES_HERE.md), so the tree is linked into a
private GOPATH and each component built with the version ldflags the release scripts would
set (else the server says v0.0.0 and clients refuse it). The build costs 10-15 minutes and
1.5 GB of Go cache, so only the binaries are kept, keyed by the Debian package version, with a
stamp written last: a cache without its stamp is a half build and is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import cache_dir, locked
from eg_harness.targets.node import hostpkgs
from eg_harness.targets.node.pins import NodePins, load_pins

Progress = Callable[[str], None]

STAMP = "stamp.json"
BUILD_LAYOUT = "1"  # bump when the way binaries are built changes
HEARTBEAT_S = 60.0


def cache_root() -> Path:
    return cache_dir() / "node"


def binaries_dir(pins: NodePins | None = None) -> Path:
    pins = pins or load_pins()
    return cache_root() / f"k8s-{pins.debian_version}"


def cached(pins: NodePins | None = None) -> Path | None:
    """The binaries directory if a complete build is cached, else None (never a half build)."""
    path = binaries_dir(pins)
    stamp = path / STAMP
    if not stamp.exists():
        return None
    try:
        record = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if record.get("layout") != BUILD_LAYOUT:
        return None
    names = list(record.get("binaries", {}))
    if not names or not all((path / n).is_file() for n in names):
        return None
    return path


def ensure_binaries(progress: Progress = print) -> Path:
    """The directory holding kube-* binaries and pause for the pinned Debian version."""
    pins = load_pins()
    done = cached(pins)
    if done:
        return done
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / f".k8s-{pins.debian_version}.lock"):
        done = cached(pins)
        if done:
            return done
        return _build(pins, progress)


def ldflags(git_version: str, commit: str = "", build_date: str = "") -> str:
    """-X flags for every package that reports a version, vendored and not (GOPATH mode)."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": git_version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "gitCommit": commit,
        "buildDate": build_date,
    }
    pkgs = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        pkgs += [pkg, f"k8s.io/kubernetes/vendor/{pkg}"]
    flags = ["-s", "-w"]
    for pkg in pkgs:
        for key, value in values.items():
            if value:
                flags.append(f"-X {pkg}.{key}={value}")
    return " ".join(flags)


def build_env(gopath: Path, gocache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOPATH=str(gopath),
        GOCACHE=str(gocache),
        GO111MODULE="off",
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
        LC_ALL="C",
    )
    return env


def _build(pins: NodePins, progress: Progress) -> Path:
    out = binaries_dir(pins)
    work = cache_root() / f"build-{pins.debian_version}"
    for stale in (out, work):
        if stale.exists():
            shutil.rmtree(stale)
    out.mkdir(parents=True)
    work.mkdir(parents=True)
    t0 = time.monotonic()
    progress(
        f"building Kubernetes {pins.git_version} from Debian's source package "
        f"{pins.kubernetes['source_package']} {pins.debian_version} (once; cached in {out}): "
        "about 10-15 minutes on 2 cores"
    )
    try:
        hostpkgs.ensure_deb_src(progress, pins)
        src = _fetch_source(pins, work, progress)
        gopath = work / "gopath"
        (gopath / "src" / "k8s.io").mkdir(parents=True)
        tree = gopath / "src" / "k8s.io" / "kubernetes"
        # Moved, not linked: go resolves vendor/ from the real working directory, which
        # must be inside GOPATH.
        src.rename(tree)
        src = tree
        env = build_env(gopath, work / "gocache")
        env["PWD"] = str(tree)
        _step(
            ["make", "gen_openapi"],
            "generate the apiserver's OpenAPI code (make gen_openapi)",
            pins.timeout("gen_openapi"),
            cwd=tree,
            env=env,
            log=work / "gen_openapi.log",
            progress=progress,
            t0=t0,
        )
        flags = ldflags(pins.git_version, build_date=_source_date(src))
        for component in pins.components:
            _step(
                ["go", "build", "-p", "2", "-ldflags", flags, "-o", str(out / component)]
                + [f"./cmd/{component}"],
                f"build {component}",
                pins.timeout("component_build"),
                cwd=tree,
                env=env,
                log=work / f"{component}.log",
                progress=progress,
                t0=t0,
            )
        pause_src = src / "build" / "pause" / "linux" / "pause.c"
        if not pause_src.exists():
            pause_src = src / "build" / "pause" / "pause.c"
        _step(
            ["gcc", "-Os", "-static", "-Wall", "-Werror"]
            + [f'-DVERSION="{pins.kubernetes["pause_version"]}"']
            + ["-o", str(out / "pause"), str(pause_src)],
            "build pause (gcc -static)",
            pins.timeout("pause_build"),
            cwd=work,
            env=env,
            log=work / "pause.log",
            progress=progress,
            t0=t0,
        )
        version = subprocess.run(
            [str(out / "kube-apiserver"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if pins.git_version not in version:
            raise TargetUnavailable(
                f"the built kube-apiserver reports {version!r}, not {pins.git_version}: the "
                f"version ldflags did not apply; see {work}"
            )
        binaries = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
        (out / STAMP).write_text(
            json.dumps(
                {
                    "layout": BUILD_LAYOUT,
                    "debian_version": pins.debian_version,
                    "git_version": pins.git_version,
                    "reports": version,
                    "built_s": round(time.monotonic() - t0, 1),
                    "binaries": binaries,
                },
                indent=2,
            )
        )
    except BaseException:
        # Keep the logs of a failed build for the error message's pointer; never the binaries.
        shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    progress(f"Kubernetes binaries ready in {_mmss(time.monotonic() - t0)}: {out}")
    return out


def _fetch_source(pins: NodePins, work: Path, progress: Progress) -> Path:
    name = pins.kubernetes["source_package"]
    _step(
        ["apt-get", "source", "-q", f"{name}={pins.debian_version}"],
        f"fetch and unpack the source package {name}={pins.debian_version} (apt-get source)",
        pins.timeout("apt_source"),
        cwd=work,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        log=work / "apt-source.log",
        progress=progress,
        t0=time.monotonic(),
        nice=False,
    )
    trees = [p for p in work.iterdir() if p.is_dir() and p.name.startswith(f"{name}-")]
    if len(trees) != 1:
        raise TargetUnavailable(
            f"apt-get source {name} left {len(trees)} source trees in {work}, expected one: "
            f"see {work / 'apt-source.log'}"
        )
    return trees[0]


def _source_date(src: Path) -> str:
    """The changelog's date as buildDate: reproducible, unlike the clock."""
    changelog = src / "debian" / "changelog"
    try:
        out = subprocess.run(
            ["dpkg-parsechangelog", "-l", str(changelog), "-S", "Timestamp"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(out)))
    except (OSError, ValueError, subprocess.SubprocessError):
        return ""


def _step(
    argv: Sequence[str],
    what: str,
    timeout: float,
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    progress: Progress,
    t0: float,
    nice: bool = True,
) -> None:
    """Run one build step niced, bounded, with a heartbeat; its log tail names a failure."""
    cmd = (["nice", "-n", "10"] if nice else []) + list(argv)
    progress(f"  [{_mmss(time.monotonic() - t0)}] {what} ...")
    started = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while True:
                try:
                    rc = proc.wait(timeout=HEARTBEAT_S)
                    break
                except subprocess.TimeoutExpired:
                    spent = time.monotonic() - started
                    if spent > timeout:
                        _kill_group(proc)
                        raise TargetUnavailable(
                            f"{what} took more than {timeout:.0f}s (bound in "
                            f"clusters/node/node.json timeouts_s); log: {log}"
                        ) from None
                    progress(f"  [{_mmss(time.monotonic() - t0)}] ... still: {what}")
        except BaseException:
            _kill_group(proc)
            raise
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise TargetUnavailable(f"{what} failed (exit {rc}); log {log}, last lines:\n{tail}")
    progress(
        f"  [{_mmss(time.monotonic() - t0)}] {what}: done in {_mmss(time.monotonic() - started)}"
    )


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait(timeout=10)


def _mmss(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"
