"""SARIF output: each finding on the line of its key in the values file."""

from __future__ import annotations

from eg_harness.audit.findings import AuditResult, Finding
from eg_harness.audit.sarif import key_line, key_path, to_sarif

VALUES = """\
singleuser:
  profileList:
    - display_name: "Spark"
      profile_options:
        driver_memory:
          choices:
            1g:
              kubespawner_override:
                environment: {KERNEL_MEMORY: "1g"}
hub:
  extraConfig:
    gateway.py: |
      c = 1
"""
KEY = (
    "singleuser.profileList[0].profile_options.driver_memory.choices.1g."
    "kubespawner_override.environment.KERNEL_MEMORY"
)


def test_key_path_reads_helm_spelling():
    assert key_path("a.b[2].c\\.d") == ["a", "b", 2, "c.d"]


def test_key_line_walks_to_the_deepest_key(tmp_path):
    f = tmp_path / "values.yaml"
    f.write_text(VALUES)
    assert key_line(f, KEY) == 9
    assert key_line(f, "hub.extraConfig.gateway\\.py") == 12
    assert key_line(f, "singleuser.storage.dynamic.pvcNameTemplate") == 1  # not in the file
    assert key_line(f, "singleuser.profileList[5]") == 2  # the deepest part it holds


def test_findings_become_sarif_results(tmp_path):
    f = tmp_path / "values.yaml"
    f.write_text(VALUES)
    finding = Finding(check="kernel-value-grammar", file=str(f), key=KEY, why="w.", fix="x")
    doc = to_sarif(
        AuditResult(
            deployment="d", kubernetes_version="1.35", engines={}, checks=[], findings=[finding]
        )
    )
    (run,) = doc["runs"]
    assert doc["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["kernel-value-grammar"]
    (res,) = run["results"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == f.as_posix()
    assert loc["region"]["startLine"] == 9
    assert "Fix: x" in res["message"]["text"]
