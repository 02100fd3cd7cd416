"""The audit's findings as SARIF 2.1.0, so a CI system shows each on the line of the values
file that holds its key.

A finding names a file and a dotted key as helm spells it (`a.b[0].c`, a literal dot escaped as
`\\.`); the line is found by composing the YAML file (PyYAML keeps each node's position) and
walking the key. A key the file does not hold (a chart default, a --set argument) points at the
file's first line; a finding without a file on disk has no location line.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from eg_harness.audit.findings import AuditResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_TOKEN = re.compile(r"\[(\d+)\]|((?:[^.\[\]\\]|\\.)+)")


def key_path(key: str) -> list[str | int]:
    """`a.b[0].c\\.d` -> ["a", "b", 0, "c.d"]."""
    out: list[str | int] = []
    for index, name in _TOKEN.findall(key):
        out.append(int(index) if index else name.replace("\\.", "."))
    return out


def key_line(path: Path, key: str) -> int:
    """The 1-based line of `key` in the YAML file; the deepest part of it the file holds."""
    try:
        node = yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError):
        return 1
    line = 1
    for part in key_path(key):
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if found is None:
                break
            key_node = next(k for k, v in node.value if v is found)
            line, node = key_node.start_mark.line + 1, found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def to_sarif(result: AuditResult) -> dict:
    rules: dict[str, dict] = {}
    results = []
    for f in result.findings:
        rules.setdefault(f.check, {"id": f.check, "shortDescription": {"text": f.check}})
        files = [p.strip() for p in f.file.split(",")]
        path = next((Path(p) for p in files if Path(p).is_file()), None)
        location: dict = {"physicalLocation": {"artifactLocation": {"uri": files[0]}}}
        if path is not None:
            location = {
                "physicalLocation": {
                    "artifactLocation": {"uri": path.as_posix()},
                    "region": {"startLine": key_line(path, f.key)},
                }
            }
        location["logicalLocations"] = [{"fullyQualifiedName": f.key, "kind": "member"}]
        results.append(
            {
                "ruleId": f.check,
                "level": "error",
                "message": {"text": f"{f.key}: {f.why} Fix: {f.fix}"},
                "locations": [location],
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "eg-harness audit",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
