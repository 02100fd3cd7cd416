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
