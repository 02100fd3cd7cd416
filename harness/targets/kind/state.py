"""What a kind run left to undo if it dies: one file per run, for `eg-harness down`.

The executor's undo stack lives in the harness process; a run killed with SIGKILL loses it.
So before creating anything the target records the cluster it may create (or the namespaces it
installs into a reused one) with its owner's pid, and removes the record after teardown.
`down` undoes the records of dead owners: a created cluster is deleted, a reused one only
loses the namespaces labelled with that run's id.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psutil
from eg_harness.runtime.envs import cache_dir
from eg_harness.targets.kind import tools
from eg_harness.targets.kind.pins import RUN_LABEL


def state_dir() -> Path:
    path = cache_dir() / "kind" / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(run_id: str, cluster: str, created: bool, keep: bool, kubeconfig: Path) -> Path:
    path = state_dir() / f"{run_id}.json"
    doc = {
        "run_id": run_id,
        "cluster": cluster,
        "created": created,
        "keep": keep,
        "kubeconfig": str(kubeconfig),
        "owner_pid": os.getpid(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
    return path


def forget(run_id: str) -> None:
    (state_dir() / f"{run_id}.json").unlink(missing_ok=True)


def abandoned() -> list[dict]:
    """Records whose owner is gone (a killed run), oldest first."""
    out = []
    for path in sorted(state_dir().glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        owner = doc.get("owner_pid")
        if owner and psutil.pid_exists(owner):
            continue
        doc["_path"] = str(path)
        out.append(doc)
    return out


def down_commands(doc: dict) -> list[list[str]]:
    """How to remove what an abandoned run left: the cluster, or the run's namespaces."""
    kind, kubectl = tools.argv0("kind"), tools.argv0("kubectl")
    if doc["created"] and not doc.get("keep"):
        return [[kind, "delete", "cluster", "--name", doc["cluster"]]]
    kubeconfig = doc.get("kubeconfig")
    where = ["--kubeconfig", kubeconfig] if kubeconfig and Path(kubeconfig).exists() else []
    return [
        [
            kubectl,
            *where,
            "--context",
            f"kind-{doc['cluster']}",
            "delete",
            "namespace",
            f"--selector={RUN_LABEL}={doc['run_id']}",
            "--wait=true",
            "--timeout=180s",
        ]
    ]


def sweep(progress=print, run_id: str | None = None) -> tuple[int, list[str]]:
    """Undo every abandoned record (or only `run_id`'s); returns (how many, what could not be
    undone)."""
    failed: list[str] = []
    count = 0
    for doc in abandoned():
        if run_id is not None and doc["run_id"] != run_id:
            continue
        count += 1
        ok = True
        for argv in down_commands(doc):
            progress(f"removing what kind run {doc['run_id']} left: {' '.join(argv)}")
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=240)
                ok = ok and proc.returncode == 0
                if proc.returncode != 0:
                    said = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
                    failed.append(f"{doc['cluster']}: {said[0]}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                ok = False
                failed.append(f"{doc['cluster']}: {argv[0]} could not run ({exc})")
        if ok:
            Path(doc["_path"]).unlink(missing_ok=True)
    return count, failed
