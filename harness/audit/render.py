"""`helm template` of one release, split into objects that remember their template."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml
from eg_harness.audit.deployment import Release
from eg_harness.audit.tools import Helm
from eg_harness.runtime import secrets


@dataclass
class K8sObject:
    origin: str  # "<release>: <template>" or "KubeSpawner: profile <slug> <choices>"
    doc: dict
    choices: dict | None = None  # a user pod: the profile choices it was built for

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name", ""))

    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Rendered:
    objects: list[K8sObject]
    error: str | None = None  # helm refused (a template or values-schema error): a finding


def helm_template(helm: Helm, release: Release, chart: Path, kube_version: str) -> Rendered:
    argv = [
        helm.path,
        "template",
        release.name,
        str(chart),
        "--namespace",
        release.namespace,
        "--kube-version",
        f"v{kube_version}.0" if kube_version.count(".") == 1 else f"v{kube_version}",
        *release.helm_args(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip()
        return Rendered([], secrets.redact(msg))
    objects, errors = split(proc.stdout, release.name)
    return Rendered(objects, secrets.redact("; ".join(errors)) if errors else None)


def split(text: str, release: str) -> tuple[list[K8sObject], list[str]]:
    """Objects as the API server would read them (YAML 1.1 types, like its YAML decoder)."""
    objects, errors = [], []
    for chunk in text.split("\n---"):
        source = ""
        for line in chunk.splitlines():
            if line.startswith("# Source: "):
                source = line[len("# Source: ") :].strip()
                break
        try:
            doc = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            errors.append(f"{source or 'a rendered document'} is not valid YAML: {exc}")
            continue
        if isinstance(doc, dict) and doc:
            objects.append(K8sObject(f"{release}: {source}", doc))
    return objects, errors
