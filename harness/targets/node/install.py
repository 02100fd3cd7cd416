"""EG on the node cluster: the seed's helm command, the service address, and seeded faults.

The install is the seed's command as written (upgrade --cleanup-on-fail --install ... --atomic
--create-namespace, the token and the kernelspecs image as flags), with the token as
--set-string (a token of digits must stay a string) and `-f` the provider's values file and the
run's overlay; then the Service's ClusterIP, which the node's DNS and the harness use.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.secrets import redact

RELEASE = "kdp-enterprise-gateway"  # the seed's release name
NAMESPACE = "enterprise-gateway"
SERVICE = "enterprise-gateway"
DEPLOYMENT = "enterprise-gateway"
GATEWAY_ROLE = "enterprise-gateway-controller"  # the chart's ClusterRole for EG's account
SERVICE_DNS = f"{SERVICE}.{NAMESPACE}.svc.cluster.local"


def helm_argv(
    helm: str,
    kubeconfig: Path,
    chart: Path,
    *,
    token: str,
    kernelspecs_ref: str,
    values: Sequence[Path],
    timeout_s: int,
) -> list[str]:
    """The seed's install command with this provider's values files after it."""
    argv = [
        helm,
        "upgrade",
        "--cleanup-on-fail",
        "--install",
        RELEASE,
        str(chart),
        "--atomic",
        "--namespace",
        NAMESPACE,
        "--set-string",
        f"authToken={token}",
        "--set",
        f"kernelspecs.image={kernelspecs_ref}",
        "--create-namespace",
        "--kubeconfig",
        str(kubeconfig),
        f"--timeout={timeout_s}s",
    ]
    for path in values:
        argv += ["-f", str(path)]
    return argv


def run(argv: Sequence[str], timeout: float, what: str) -> str:
    """Run one command; a failure is TargetUnavailable with its last line (redacted)."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TargetUnavailable(f"{what} did not finish in {timeout:.0f}s") from None
    except OSError as exc:
        raise TargetUnavailable(f"{what}: {argv[0]} cannot run ({exc.strerror})") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:] or ["no output"]
        raise TargetUnavailable(
            redact(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
        )
    return proc.stdout


def cluster_ip(kubectl: Sequence[str], timeout: float) -> tuple[str, int]:
    """The gateway Service's ClusterIP and its http port."""
    doc = json.loads(
        run(
            [*kubectl, "get", "service", SERVICE, "--namespace", NAMESPACE, "-o", "json"],
            timeout,
            f"reading service {NAMESPACE}/{SERVICE}",
        )
    )
    spec = doc.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if p.get("name") == "http"] or spec.get("ports")
    if not spec.get("clusterIP") or not ports:
        raise TargetUnavailable(f"service {NAMESPACE}/{SERVICE} has no ClusterIP and port: {spec}")
    return spec["clusterIP"], int(ports[0]["port"])


# --- a kept cluster: seeded faults on the live install, and their undo -------------------------


def revision(helm: Sequence[str], timeout: float) -> int:
    """The release's current revision (what a live fault's undo rolls back to)."""
    doc = json.loads(
        run(
            [*helm, "status", RELEASE, "--namespace", NAMESPACE, "-o", "json"],
            timeout,
            f"helm status of {RELEASE}",
        )
    )
    return int(doc["version"])


def upgrade_argv(
    helm: Sequence[str],
    chart: Path,
    *,
    kernelspecs_ref: str | None,
    values: Sequence[Path],
    timeout_s: int,
) -> list[str]:
    """A live fault's change to the installed release: the release's values as they are
    (--reuse-values keeps the token and the run's overlay) with the fault's over them."""
    argv = [
        *helm,
        "upgrade",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--reuse-values",
        "--wait",
        f"--timeout={timeout_s}s",
    ]
    if kernelspecs_ref:
        argv += ["--set", f"kernelspecs.image={kernelspecs_ref}"]
    for path in values:
        argv += ["-f", str(path)]
    return argv


def rollback_argv(helm: Sequence[str], to_revision: int, timeout_s: int) -> list[str]:
    """The undo of a live fault's upgrade: the release as it was before."""
    return [
        *helm,
        "rollback",
        RELEASE,
        str(to_revision),
        "--namespace",
        NAMESPACE,
        "--wait",
        f"--timeout={timeout_s}s",
    ]


def role_rules(kubectl: Sequence[str], timeout: float) -> list[dict]:
    """The gateway's ClusterRole rules as installed (kept to put back after a live fault)."""
    doc = json.loads(
        run(
            [*kubectl, "get", "clusterrole", GATEWAY_ROLE, "-o", "json"],
            timeout,
            f"reading ClusterRole {GATEWAY_ROLE}",
        )
    )
    return doc.get("rules") or []


def set_role_rules(kubectl: Sequence[str], rules: list[dict], timeout: float) -> None:
    patch = json.dumps([{"op": "replace", "path": "/rules", "value": rules}])
    run(
        [*kubectl, "patch", "clusterrole", GATEWAY_ROLE, "--type=json", "-p", patch],
        timeout,
        f"restoring ClusterRole {GATEWAY_ROLE}",
    )
