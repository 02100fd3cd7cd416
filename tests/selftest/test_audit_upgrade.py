"""`eg-harness audit --upgrade-to z2jh-4` through its CLI, with KubeSpawner 6.2.0 (z2jh 3.2.1)
and 7.1.0 (z2jh 4.x) from their cached tool environments (clusters/audit/upgrade.json).

The twin: on the seed's values the upgrade renames the home PVC of users whose old (escape) and
new (safe) slugs differ, and the audit says so with the fix; with the fix applied (slug_scheme
escape and z2jh 3.2.1's templates pinned) the same users keep their claims. Cost: about 6 s of
CPU for the two audits once both tool environments exist (the z2jh-4 one takes 7 s to create).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eg_harness.cli.main import main

FIX = Path(__file__).with_name("audit_fixtures")
KIND = Path(__file__).resolve().parents[2] / "clusters" / "kind" / "jupyterhub-profile"


def _upgrade(tmp_path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "upgrade.json"
    args = ["audit", "--upgrade-to", "z2jh-4", "--json", str(out)]
    if extra:
        args += ["--hub-values", str(KIND / "values.yaml"), *extra]
        args += [
            "--hub-set-file",
            f"hub.extraConfig.jupyter_gateway_config\\.py={KIND / 'extra-config.py'}",
        ]
    code = main(args)
    return code, json.loads(out.read_text())


def test_the_seed_loses_homes_across_kubespawner_7(tmp_path):
    code, doc = _upgrade(tmp_path)
    assert code == 1
    (found,) = [f for f in doc["findings"] if f["check"] == "upgrade-pvc-renamed"]
    assert "Alice.Smith: claim--41lice-2e-53mith -> claim-alice-smith---" in found["why"]
    assert "user_1: claim-user-5f1 -> claim-user-1---" in found["why"]
    assert "slug_scheme: escape" in found["fix"]
    assert found["key"] == "singleuser.storage.dynamic.pvcNameTemplate"
    assert doc["engines"]["before"].startswith("KubeSpawner 6.2.0")
    assert doc["engines"]["after"].startswith("KubeSpawner 7.1.0")


def test_pinning_the_old_slug_scheme_keeps_every_claim(tmp_path):
    code, doc = _upgrade(tmp_path, "--hub-values", str(FIX / "hub-pin-slug-scheme.yaml"))
    assert doc["findings"] == []
    # nothing a user sees changes: names, claims, volumes, labels, env, image, resources
    assert [c["name"] for c in doc["checks"] if c["name"].startswith("changes for")] == []
    assert code == 0


def test_an_unknown_version_set_is_exit_2(capsys):
    assert main(["audit", "--upgrade-to", "z2jh-99"]) == 2
    assert "unknown version set" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _quiet_probe():
    yield
    from eg_harness.audit.tools import close_probe

    close_probe()
