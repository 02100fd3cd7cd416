"""The audit's result: findings that name the file, key, why and fix; which checks ran; and
what the audit layered over the files it was given, so an operator can reproduce its verdict."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CheckStatus = Literal["ran", "not run"]


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str  # a stable id, e.g. "auth-token-not-string"
    file: str  # the values file (or command-line argument) that owns the key
    key: str  # the key inside it, dotted as helm spells it
    why: str  # what breaks, and how
    fix: str
    # The profile choices (user_options) whose user pods showed it; one finding for all the
    # choices that reached it, rather than one per choice. Empty: not a per-choice finding.
    choices: list[dict[str, str]] = Field(default_factory=list)

    def line(self) -> str:
        return f"{self.file}: {self.key}: {self.why} Fix: {self.fix} [{self.check}]"


class CheckRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    status: CheckStatus
    detail: str = ""


class Layer(BaseModel):
    """One input of a release, in helm's order: a values file or a --set* argument."""

    model_config = ConfigDict(extra="forbid")

    release: str  # "<release name> (<namespace>)"
    kind: Literal["values file", "--set", "--set-string", "--set-file"]
    source: str  # the file's path, or the argument as typed (secrets redacted)
    keys: list[str]  # the keys it sets, dotted as helm spells them
    added: bool  # the audit added it over the given files (no-argument mode: over clusters/kind/)
    why: str = ""  # why the audit added it


class AuditResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment: str
    kubernetes_version: str
    engines: dict[str, str]
    checks: list[CheckRun]
    findings: list[Finding]
    # What was audited, input by input; with ``reproduce``, the same audit as explicit options.
    layers: list[Layer] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    reproduce: str = ""

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    def text(self) -> str:
        lines = [f"Deployment audit: {self.deployment} (Kubernetes {self.kubernetes_version})"]
        given = [la for la in self.layers if not la.added]
        for la in given:
            lines.append(f"  given   {la.release}: {la.kind} {la.source}")
        added = [la for la in self.layers if la.added]
        if added:
            lines.append("  layered over the given files (in helm's order, after them):")
            for la in added:
                lines.append(
                    f"    {la.release}: {la.kind} {la.source} sets {', '.join(la.keys) or '-'}"
                    + (f" ({la.why})" if la.why else "")
                )
        lines += [f"  assumed {a}" for a in self.assumptions]
        if self.reproduce:
            lines.append(f"  the same audit, explicitly: {self.reproduce}")
        lines += [f"  engine  {name}: {what}" for name, what in self.engines.items()]
        for c in self.checks:
            mark = "ran    " if c.status == "ran" else "NOT RUN"
            lines.append(f"  {mark} {c.name}" + (f": {c.detail}" if c.detail else ""))
        if self.findings:
            lines.append(f"{len(self.findings)} finding(s):")
            lines += [f"  - {f.line()}" for f in self.findings]
        else:
            lines.append("no findings")
        return "\n".join(lines)
