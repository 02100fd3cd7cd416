"""The namespace report: what an engineer needs to see when a release or a rollout failed.

Like z2jh's CI (action-k8s-namespace-report), for each namespace: the pods, the events, a
describe of every pod that is not Ready, the logs of every container including the previous
run of restarted ones, and helm's status of each release, all redacted, into the report's
diagnostics/. Which commands to run is decided from the pod list (pure, unit-tested); running
them is bounded per command, and a command that fails leaves its error in the file.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eg_harness.runtime.secrets import redact


@dataclass(frozen=True)
class Query:
    filename: str
    argv: tuple[str, ...]


def pod_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def namespace_queries(kubectl: Sequence[str], namespace: str, pods: list[dict]) -> list[Query]:
    """The commands of one namespace's report, given its pods (kubectl's JSON items)."""
    ns = ("--namespace", namespace)
    out = [
        Query("pods.txt", (*kubectl, "get", "pods", *ns, "--output=wide")),
        Query("events.txt", (*kubectl, "get", "events", *ns, "--sort-by=.lastTimestamp")),
        Query("resources.txt", (*kubectl, "get", "all,networkpolicy,pvc", *ns, "--output=wide")),
    ]
    for pod in pods:
        name = pod["metadata"]["name"]
        if not pod_ready(pod):
            out.append(Query(f"describe-{name}.txt", (*kubectl, "describe", "pod", name, *ns)))
        status = pod.get("status") or {}
        statuses = (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        )
        restarted = {
            s["name"]
            for s in statuses
            if s.get("restartCount", 0) > 0 or (s.get("lastState") or {}).get("terminated")
        }
        spec = pod.get("spec") or {}
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cname = container["name"]
            base = (*kubectl, "logs", name, *ns, "--container", cname, "--timestamps")
            out.append(Query(f"logs-{name}-{cname}.txt", base))
            if cname in restarted:
                out.append(Query(f"logs-{name}-{cname}-previous.txt", (*base, "--previous")))
    return out


def release_queries(helm: Sequence[str], release: str, namespace: str) -> list[Query]:
    return [
        Query(f"helm-status-{release}.txt", (*helm, "status", release, "--namespace", namespace)),
        Query(f"helm-history-{release}.txt", (*helm, "history", release, "--namespace", namespace)),
    ]


def _run(argv: Sequence[str], timeout: float) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"(no answer in {timeout:.0f}s)\n"
    except OSError as exc:
        return f"(cannot run {argv[0]}: {exc.strerror})\n"
    text = proc.stdout
    if proc.returncode != 0:
        text += f"\n(exit {proc.returncode}) {proc.stderr}"
    return text


def write_namespace_report(
    dest: Path,
    kubectl: Sequence[str],
    helm: Sequence[str],
    namespaces: list[str],
    releases: dict[str, str],
    timeout: float,
) -> list[Path]:
    """Collect the report of each namespace (and EG's kernel namespaces) under `dest`."""
    written: list[Path] = []
    kernel_ns = _run(
        (
            *kubectl,
            "get",
            "namespaces",
            "--selector=app=enterprise-gateway",
            "--output=jsonpath={.items[*].metadata.name}",
        ),
        timeout,
    ).split()
    for namespace in [*namespaces, *[n for n in kernel_ns if n not in namespaces]]:
        raw = _run((*kubectl, "get", "pods", "--namespace", namespace, "--output=json"), timeout)
        try:
            pods = json.loads(raw).get("items", [])
        except ValueError:
            pods = []
        queries = namespace_queries(kubectl, namespace, pods)
        queries += [
            q
            for release, ns in releases.items()
            if ns == namespace
            for q in release_queries(helm, release, ns)
        ]
        folder = dest / namespace
        folder.mkdir(parents=True, exist_ok=True)
        for query in queries:
            path = folder / query.filename
            path.write_text(f"$ {' '.join(query.argv)}\n" + redact(_run(query.argv, timeout)))
            written.append(path)
    return written
