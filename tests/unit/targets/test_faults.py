"""The fault catalogue is data the negative twins, the CLI and docs/faults.md trust, so each record
must point at a real suite and test, and each change it describes must apply to the real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from eg_harness import resources
from eg_harness.cli.common import suites
from eg_harness.errors import ConfigError
from eg_harness.targets import faults
from eg_harness.targets.faults import CATALOGUE, FAULTS
from eg_harness.targets.local import gateway, kernelspecs
from eg_harness.targets.local.target import LocalTarget

REPO = Path(__file__).resolve().parents[3]
CATCHES = [(f, c) for f in CATALOGUE for c in f.caught_by]


def _ids(pairs):
    return [f"{f.name}:{c.variant or c.test}" for f, c in pairs]


def test_names_are_unique_and_every_fault_is_caught():
    assert len(FAULTS) == len(CATALOGUE)
    for fault in CATALOGUE:
        assert fault.caught_by, f"{fault.name} has no scenario that catches it"
        variants = [c.variant for c in fault.caught_by]
        assert len(set(variants)) == len(variants), f"{fault.name}: variants must differ"


def test_every_fault_changes_something():
    for f in CATALOGUE:
        assert (
            f.gateway_env
            or f.gateway_env_unset
            or f.hub_settings
            or f.proxy_mode
            or f.kernelspec_patches
            or f.limits_unset
            or f.gateway_config
            or f.gateway_argv_prefix
            or f.operator_skips
            or f.kernel_pod_template_drops
            or f.gateway_role_revokes
            or f.kernelspec_file_drops
            or f.hub_profile_unsets
        ), f"{f.name} seeds nothing: the deployment would be healthy"


@pytest.mark.parametrize(("fault", "catch"), CATCHES, ids=_ids(CATCHES))
def test_catch_names_a_real_suite_and_test(fault, catch):
    assert catch.words, f"{fault.name}: a catch must say what the failure message contains"
    if catch.suite == "gate":
        files = [REPO / "tests" / "selftest" / "test_bench_gate.py"]
    else:
        assert catch.suite in suites(), f"{fault.name}: no suite {catch.suite!r}"
        files = sorted((resources.SCENARIOS / catch.suite).rglob("test_*.py"))
    found = [
        (path, name)
        for path in files
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M)
        if catch.test in name
    ]
    assert found, f"{fault.name}: no test named like {catch.test!r} in {catch.suite}"
    # -k matches the node id, so the selection's first term names the test or its module.
    first = catch.select.split(" and ")[0]
    assert any(first in f"{path.stem}::{name}" for path, name in found), (
        f"{fault.name}: -k {catch.select!r} does not select {catch.test}"
    )


@pytest.mark.parametrize("fault", [f for f in CATALOGUE if f.kernelspec_patches], ids=str)
def test_kernelspec_patches_apply_to_the_real_kernel_json(fault, tmp_path):
    for patch in fault.kernelspec_patches:
        original = json.loads((kernelspecs.SOURCE / patch.kernelspec / "kernel.json").read_text())
        argv = kernelspecs.patched(patch.kernelspec, [fault])["argv"]
        at = original["argv"].index(patch.after) + 1
        assert argv == [*original["argv"][:at], *patch.insert, *original["argv"][at:]]
    names = kernelspecs.render(tmp_path, [fault], {"{gateway_python}": "/py", "{launchers}": "/l"})
    for patch in fault.kernelspec_patches:
        assert patch.kernelspec in names
        rendered = json.loads((tmp_path / patch.kernelspec / "kernel.json").read_text())
        filled = [
            a.replace("{launchers}", "/l").replace("{gateway_python}", "/py") for a in patch.insert
        ]
        assert " ".join(filled) in " ".join(rendered["argv"])


def test_a_patch_whose_anchor_is_gone_is_an_error():
    patch = faults.KernelspecPatch(kernelspec="python3", after="not-there", insert=("x",))
    with pytest.raises(ConfigError, match="not-there"):
        patch.apply({"argv": ["a", "b"]})


def test_hub_settings_are_ones_the_hub_config_reads():
    config = (resources.LOCAL_CLUSTER / "hub" / "jupyterhub_config.py").read_text()
    for fault in CATALOGUE:
        for key in fault.hub_settings:
            assert f'settings.get("{key}"' in config, f"{fault.name}: hub ignores {key!r}"


def test_proxy_modes_are_ones_the_fault_proxy_has():
    source = (REPO / "harness" / "targets" / "local" / "faultproxy.py").read_text()
    for fault in CATALOGUE:
        if fault.proxy_mode:
            assert f'"{fault.proxy_mode}"' in source, f"{fault.name}: no such proxy mode"


def test_gateway_env_and_limits_apply_generically():
    assert gateway.limits_for([], 2, 1) == {"EG_MAX_KERNELS": "2", "EG_MAX_KERNELS_PER_USER": "1"}
    assert gateway.limits_for([FAULTS["gateway_limit_unset"]], 2, 1) == {}
    for fault in CATALOGUE:
        assert all(k.startswith("EG_") for k in [*fault.gateway_env, *fault.gateway_env_unset])


def test_gateway_config_and_wrapper_reach_the_gateway(tmp_path, monkeypatch):
    """A fault's EG traits land in the gateway's config file and its wrapper in front of argv,
    after a scenario's settings, so the fault wins; a wrapper must be a real launcher."""
    started = {}

    class Supervisor:
        def start(self, name, argv, *, env, cwd=None):
            started.update(argv=argv, env=env)
            raise RuntimeError("stop here")

    from eg_harness.targets.local.components import LocalRun

    run = LocalRun("r", tmp_path, Supervisor())  # type: ignore[arg-type]

    class Env:
        python = "/py"
        path = tmp_path / "env"  # holds no Spark driver archive

        def bin(self, name):
            return f"/bin/{name}"

    chosen = [FAULTS["gateway_culls_connected"], FAULTS["gateway_drops_sigterm"]]
    with pytest.raises(RuntimeError, match="stop here"):
        gateway.launch(
            run,
            Env(),  # type: ignore[arg-type]
            chosen,
            lambda _m: None,
            extra_env={"EG_KERNEL_SESSION_PERSISTENCE": "True"},
            extra_config={"RemoteMappingKernelManager.cull_connected": False},
        )
    config = (tmp_path / "gateway" / "gateway_config.py").read_text()
    assert "c.RemoteMappingKernelManager.cull_connected = True\n" in config
    assert started["env"]["EG_KERNEL_SESSION_PERSISTENCE"] == "True"
    wrapper = started["argv"][:2]
    assert wrapper[0] == "/py" and wrapper[1].endswith("launchers/entrypoint_drops_sigterm.py")
    assert Path(wrapper[1]).is_file()
    assert started["argv"][2] == "/bin/jupyter-enterprisegateway"


def test_resolve_refuses_unknown_and_clashing_faults():
    with pytest.raises(ConfigError, match="unknown local fault 'nope'"):
        faults.resolve(["nope"])
    with pytest.raises(ConfigError, match="both set proxy mode"):
        faults.resolve(["gateway_ws_drops_binary", "gateway_ws_refuses_upgrade"])
    assert [f.name for f in faults.resolve(["hub_no_identity"] * 2)] == ["hub_no_identity"]
    with pytest.raises(ConfigError, match="unknown local fault"):
        LocalTarget(faults=["nope"])


def test_target_code_names_no_fault():
    """Faults are applied from their records: no fault name appears in target code."""
    local = REPO / "harness" / "targets" / "local"
    for path in [*local.glob("*.py"), resources.LOCAL_CLUSTER / "hub" / "jupyterhub_config.py"]:
        text = path.read_text()
        named = [f for f in FAULTS if f in text]
        assert not named, f"{path.name} names {named}"


def test_docs_table_is_the_catalogue():
    page = (REPO / "docs" / "faults.md").read_text()
    table = faults.markdown_table()
    assert table in page, "docs/faults.md's table differs from: eg-harness faults --markdown"


def test_cli_prints_the_catalogue():
    out = subprocess.run(
        [sys.executable, "-m", "eg_harness", "faults", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == faults.markdown_table()
    plain = subprocess.run(
        [sys.executable, "-m", "eg_harness", "faults"], capture_output=True, text=True, check=True
    ).stdout
    assert [line.split()[0] for line in plain.splitlines()] == list(FAULTS)
