"""What a node cluster run changed on the host, on disk, so teardown works from the file alone.

Written before bring-up changes anything (the sysctls, chains, host paths and cgroups as they
were) and updated as it goes; the live cluster tears down from it, and `eg-harness down` after
a SIGKILL does the same from the file, with no cluster object to ask. One record per run in
the cache (like the kind target's), pointing at the state file in the run's state dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from eg_harness.runtime import processes
from eg_harness.runtime.envs import cache_dir
from eg_harness.targets.node import config, hostclean, hostsettings

Progress = Callable[[str], None]


def registry_dir() -> Path:
    path = cache_dir() / "node" / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(doc: dict, state_file: Path) -> None:
    """Write the run's state file (0600) and its registry entry for `down`."""
    doc = dict(doc, owner_pid=doc.get("owner_pid") or os.getpid(), state_file=str(state_file))
    for path in (state_file, registry_dir() / f"{doc['run_id']}.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
        tmp.replace(path)


def forget(run_id: str) -> None:
    (registry_dir() / f"{run_id}.json").unlink(missing_ok=True)


def abandoned() -> list[dict]:
    """Records whose owner process is gone (a killed run), oldest first."""
    out = []
    for path in sorted(registry_dir().glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        owner = doc.get("owner_pid")
        if owner and _alive(owner):
            continue
        out.append(doc)
    return out


def _alive(pid: int) -> bool:
    """A zombie owner is a dead one (a killed run's harness whose parent has not reaped it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def runc_containers(runc_root: Path) -> list[tuple[Path, str]]:
    """(runc root of a namespace, container id) for every container containerd's shims ran."""
    found = []
    if not runc_root.is_dir():
        return found
    for ns_root in sorted(p for p in runc_root.iterdir() if p.is_dir()):
        for c in sorted(p for p in ns_root.iterdir() if p.is_dir()):
            found.append((ns_root, c.name))
    return found


def kill_containers(runc_root: Path) -> list[str]:
    """`runc delete --force` every container: the shims' children do not carry the run id."""
    left = []
    for ns_root, cid in runc_containers(runc_root):
        try:
            subprocess.run(
                ["runc", "--root", str(ns_root), "delete", "--force", cid],
                capture_output=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            left.append(f"container {cid}: runc delete failed ({exc})")
    for ns_root, cid in runc_containers(runc_root):
        left.append(f"container {cid} (runc root {ns_root})")
    return left


def teardown(doc: dict, progress: Progress = print, supervisor=None) -> list[str]:
    """Undo everything the record says the run did; returns what could not be undone."""
    left: list[str] = []
    root = Path(doc["state_dir"])
    phases: dict[str, float] = {}
    doc["teardown_phases_s"] = phases

    def phase(name: str, fn) -> None:
        t0 = time.monotonic()
        left.extend(fn() or [])
        phases[name] = round(time.monotonic() - t0, 2)

    def stop_node_agents():
        # The kubelet first: it would restart containers that are being removed.
        if supervisor is None:
            return _stop_named(doc["run_id"], ("kubelet", "kube-proxy"))
        for proc in reversed(supervisor.procs):
            if proc.name in ("kubelet", "kube-proxy"):
                supervisor.stop(proc, timeout=5)
        return []

    def stop_rest():
        if supervisor is not None:
            return supervisor.stop_all()
        return [processes.describe(p) for p in processes.sweep_run(doc["run_id"])]

    def sysctls():
        doc["sysctls_changed"] = {
            k.replace("/", "."): list(v)
            for k, v in hostsettings.changed(doc["sysctls_before"]).items()
        }
        return hostsettings.restore(doc["sysctls_before"])

    def paths():
        _remove_cni_results(doc)
        return hostclean.remove_created_paths(doc["paths_before"])

    with processes.signals_deferred():
        phase("kubelet, kube-proxy", stop_node_agents)
        phase("containers", lambda: kill_containers(root / "containerd" / "runc"))
        phase("processes", stop_rest)
        phase(
            "mounts",
            lambda: hostclean.unmount_under(
                [root] + _created(doc, ["/run/netns", "/var/lib/kubelet"])
            ),
        )
        if doc.get("bridge"):
            phase("bridge", lambda: hostclean.remove_bridge(doc["bridge"]))
        if "chains_before" in doc:
            phase("iptables", lambda: hostclean.remove_chains(doc["chains_before"]))
        if "sysctls_before" in doc:
            phase("sysctls", sysctls)
        if "paths_before" in doc:
            phase("host paths", paths)
        if "cgroups_before" in doc:
            phase("cgroups", lambda: hostclean.remove_cgroups(doc["cgroups_before"]))
        phase("state dir", lambda: _remove_heavy(root))
    progress("  teardown phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()))
    return left


def _created(doc: dict, paths: list[str]) -> list[Path]:
    before = doc.get("paths_before", {})
    return [Path(p) for p in paths if not before.get(p, True)]


def _stop_named(run_id: str, names: tuple[str, ...]) -> None:
    procs = []
    for p in processes.run_processes(run_id):
        try:
            if Path(p.cmdline()[0]).name in names:
                procs.append(p)
        except (psutil.Error, IndexError):
            continue
    for p in procs:
        p.terminate()
    psutil.wait_procs(procs, timeout=5)


def _remove_cni_results(doc: dict) -> None:
    """libcni caches each attachment's result in /var/lib/cni/results (no flag moves it)."""
    results = Path("/var/lib/cni/results")
    network = doc.get("cni_network")
    if not network or not results.is_dir():
        return
    for f in results.glob(f"{network}-*"):
        f.unlink(missing_ok=True)


def _remove_heavy(root: Path) -> None:
    """Everything but the logs and the state file: images, etcd data, pod volumes."""
    for name in ("containerd", "kubelet", "etcd", "cni", "apiserver", "pki", "kubeconfig"):
        path = root / name
        if path.exists() and not hostclean.mounts_under([path]):
            subprocess.run(["rm", "-rf", "--one-file-system", str(path)], timeout=60)
    shutil.rmtree(config.Layout(root).sockets, ignore_errors=True)
    with contextlib.suppress(OSError):
        config.SOCKETS_ROOT.rmdir()  # only when no other cluster's sockets are in it


def sweep(progress: Progress = print, run_id: str | None = None) -> tuple[int, list[str]]:
    """Tear down every abandoned node cluster (or only `run_id`'s): (how many, leftovers)."""
    count, failed = 0, []
    for doc in abandoned():
        if run_id is not None and doc["run_id"] != run_id:
            continue
        count += 1
        progress(f"removing what node cluster run {doc['run_id']} left ({doc['state_dir']})")
        t0 = time.monotonic()
        left = teardown(doc, progress)
        if left:
            failed += [f"{doc['run_id']}: {item}" for item in left]
        else:
            forget(doc["run_id"])
        progress(f"node cluster run {doc['run_id']}: torn down in {time.monotonic() - t0:.1f}s")
    return count, failed
