"""The audit's result: findings that name the file, key, why and fix; which checks ran."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

CheckStatus = Literal["ran", "not run"]


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str  # a stable id, e.g. "auth-token-not-string"
    file: str  # the values file (or command-line argument) that owns the key
    key: str  # the key inside it, dotted as helm spells it
    why: str  # what breaks, and how
    fix: str

    def line(self) -> str:
        return f"{self.file}: {self.key}: {self.why} Fix: {self.fix} [{self.check}]"


class CheckRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    status: CheckStatus
    detail: str = ""


class AuditResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment: str
    kubernetes_version: str
    engines: dict[str, str]
    checks: list[CheckRun]
    findings: list[Finding]

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    def text(self) -> str:
        lines = [f"Deployment audit: {self.deployment} (Kubernetes {self.kubernetes_version})"]
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
