"""The verdict and the selection as junit.xml properties, for CI tools that read only junit.

junit.xml is written by pytest, which knows nothing of the verdict; a tool that shows junit
(a CI's test tab) would otherwise present "0 tests, 0 failures" as a green run. The
properties are the verdict's fields as results.json has them, never judged again here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from eg_harness.report.verdict import Selection, Verdict

PREFIX = "eg_harness."


def properties(verdict: Verdict, selection: Selection | None) -> list[tuple[str, str]]:
    """(name, value) pairs, in a stable order."""
    out = [
        ("verdict", verdict.status),
        ("verdict_reason", verdict.reason),
        ("exit_code", str(verdict.exit_code)),
    ]
    if selection is not None:
        out += [
            ("suites", ",".join(selection.suites)),
            ("suites_not_run", ",".join(selection.suites_not_run)),
            ("keyword", selection.keyword or ""),
            ("markers", selection.markers or ""),
            ("deselected", str(selection.deselected)),
            ("partial", "true" if selection.partial else "false"),
        ]
    return [(PREFIX + name, value) for name, value in out]


def add_properties(path: Path, verdict: Verdict, selection: Selection | None) -> bool:
    """Put the properties first in the (first) testsuite of ``path``, replacing earlier ones of
    ours; False when the file is not a junit document."""
    tree = ET.parse(path)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return False
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)
    for old in [p for p in props.findall("property") if p.get("name", "").startswith(PREFIX)]:
        props.remove(old)
    for name, value in properties(verdict, selection):
        ET.SubElement(props, "property", {"name": name, "value": value})
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return True
