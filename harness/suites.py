"""The suite catalogue: what each suite proves, its usual time and what it needs, from one file
(scenarios/suites.json) beside the suites themselves.

`eg-harness suites`, scenarios/README.md's table and the reports' "suites not run" all read
this, so a new suite is one folder plus one record; ``check()`` (run by the unit tests) fails
when a folder with tests has no record or a record has no folder.
"""

from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from eg_harness import resources
from pydantic import BaseModel, ConfigDict, Field

CATALOGUE = resources.SCENARIOS / "suites.json"
NEEDS = ("hub", "spark", "kubernetes", "destructive", "local")
Scope = Literal["all", "some"]


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    proves: str
    usual_time_s: float = Field(ge=0)
    needs: dict[Literal["hub", "spark", "kubernetes", "destructive", "local"], Scope] = Field(
        default_factory=dict
    )

    def needs_text(self) -> str:
        """e.g. "Spark; hub, Kubernetes (some tests)": what the whole suite needs first."""
        words = {"hub": "hub", "spark": "Spark", "kubernetes": "Kubernetes", "local": "local"}
        words["destructive"] = "destructive"
        every = [words[n] for n in NEEDS if self.needs.get(n) == "all"]
        some = [words[n] for n in NEEDS if self.needs.get(n) == "some"]
        parts = [", ".join(every)] if every else []
        if some:
            parts.append(", ".join(some) + " (some tests)")
        return "; ".join(parts) or "-"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about: str
    suites: dict[str, Suite]


@lru_cache(maxsize=1)
def catalogue() -> tuple[Suite, ...]:
    """Every suite of the catalogue, in the file's order (the order a reader meets them)."""
    doc = _File.model_validate(json.loads(CATALOGUE.read_text()))
    return tuple(s.model_copy(update={"name": name}) for name, s in doc.suites.items())


def names() -> list[str]:
    """The suites' names, sorted: the folders of scenarios/ that hold tests."""
    return sorted(s.name for s in catalogue())


def get(name: str) -> Suite | None:
    return next((s for s in catalogue() if s.name == name), None)


def folders() -> list[str]:
    return sorted(
        p.name for p in resources.SCENARIOS.iterdir() if p.is_dir() and any(p.glob("test_*.py"))
    )


def check() -> list[str]:
    """Where the catalogue and the folders disagree, one line each (empty: they agree)."""
    listed, found = set(names()), set(folders())
    return [
        f"scenarios/{n}/ has tests but no record in {CATALOGUE.name}"
        for n in sorted(found - listed)
    ] + [
        f"{CATALOGUE.name} lists {n}, which has no scenarios/{n}/test_*.py"
        for n in sorted(listed - found)
    ]


def counted_tests(name: str) -> int:
    """Test functions in a suite's files, without collecting (parametrized ones count once):
    the fallback when pytest cannot collect."""
    n = 0
    for f in sorted((resources.SCENARIOS / name).glob("test_*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test"
            ):
                n += 1
    return n


def markdown_table(counts: dict[str, int] | None = None) -> str:
    """The catalogue as scenarios/README.md's table (and the README's, if it wants one)."""
    head = ["suite", "what it proves", "usual time", "needs"]
    if counts is not None:
        head.insert(2, "scenarios")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in catalogue():
        row = [s.name, s.proves, fmt_time(s.usual_time_s), s.needs_text()]
        if counts is not None:
            row.insert(2, str(counts.get(s.name, "?")))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def fmt_time(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def readme_path() -> Path:
    return resources.SCENARIOS / "README.md"
