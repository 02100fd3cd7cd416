"""The node cluster's keys and certificates, made with openssl for each run.

One CA per run signs the apiserver's serving certificate (bridge address, loopback and the
`kubernetes` service's names and IP, so pods and the host both verify it) and the client
certificate the apiserver shows the kubelet for exec and logs; the kubelet trusts that CA.
The service-account key pair signs pod tokens. Static tokens (tokens.csv) identify the admin
and the components: fresh random values per run, never printed.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from eg_harness.errors import TargetUnavailable
from eg_harness.targets.node.config import TOKEN_USERS

DAYS = "30"


def _openssl(args: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(
            ["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TargetUnavailable(f"openssl {args[0]} could not run: {exc}") from None
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        raise TargetUnavailable(f"openssl {' '.join(args[:2])} failed: {said[0]}")


def server_sans(bridge_ip: str, service_ip: str, domain: str) -> str:
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    names.append(f"kubernetes.default.svc.{domain}")
    names.append("localhost")
    return ",".join(
        [f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in (bridge_ip, service_ip, "127.0.0.1")]
    )


def make_pki(pki: Path, bridge_ip: str, service_ip: str, domain: str) -> dict[str, str]:
    """Write CA, serving and kubelet-client certificates, SA keys; return the tokens."""
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    _openssl(["genrsa", "-out", "ca.key", "2048"], pki)
    _openssl(
        [
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=eg-harness-node-ca",
            "-days",
            DAYS,
            "-out",
            "ca.crt",
        ],
        pki,
    )
    _sign(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        f"subjectAltName={server_sans(bridge_ip, service_ip, domain)}\nextendedKeyUsage=serverAuth",
    )
    _sign(
        pki,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "extendedKeyUsage=clientAuth",
    )
    _openssl(["genrsa", "-out", "sa.key", "2048"], pki)
    _openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], pki)
    for key in pki.glob("*.key"):
        key.chmod(0o600)
    return {who: secrets.token_hex(16) for who in TOKEN_USERS}


def _sign(pki: Path, name: str, subject: str, ext: str) -> None:
    (pki / f"{name}.ext").write_text(ext + "\n")
    _openssl(["genrsa", "-out", f"{name}.key", "2048"], pki)
    _openssl(["req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr"], pki)
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            DAYS,
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.crt",
        ],
        pki,
    )
