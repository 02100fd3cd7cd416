"""The target interface: abilities instead of hasattr, one run id, one redacting console."""

from __future__ import annotations

import io
import os
import re

import pytest
from eg_harness.fixtures.abilities import require
from eg_harness.runtime import progress, secrets
from eg_harness.runtime.runid import new_run_id
from eg_harness.targets import TargetSpec, make_target
from eg_harness.targets.abilities import (
    ABILITIES,
    ClusterAccess,
    ExtraGateways,
    HangingKernelspec,
    KernelLimits,
    ProcessView,
    UnpullableImage,
)
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import UNPULLABLE_IMAGE
from eg_harness.targets.local.target import LocalTarget


class _Bare(Target):
    kind = "bare"

    def provision(self, progress=print) -> None:
        pass

    def teardown(self) -> dict[str, list[str]]:
        return {}


def _existing(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("gateway:\n  url: http://127.0.0.1:9\n")
    return make_target(TargetSpec(kind="existing", config_path=str(path), run_id="r-existing"))


def test_local_target_has_every_ability_and_existing_none(tmp_path):
    local = LocalTarget(run_id="r-local")
    existing = _existing(tmp_path)
    for kind in (ProcessView, KernelLimits, HangingKernelspec, ExtraGateways):
        assert local.ability(kind) is local
        assert existing.ability(kind) is None
    assert local.hanging_kernelspec() == "never_ready"


def test_require_skips_with_the_abilitys_reason(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="not visible.*: needs pids"):
        require(_existing(tmp_path), ProcessView, "needs pids")
    local = LocalTarget()
    assert require(local, ProcessView) is local


LOCAL_ABILITIES = (
    "process_view",
    "kernel_limits",
    "hanging_kernelspec",
    "component_control",
    "own_stacks",
    "extra_gateways",
)


def test_capabilities_derive_from_endpoints_and_abilities(tmp_path):
    caps = LocalTarget().describe()["capabilities"]
    assert {name: caps[name] for name in ABILITIES} == {
        name: name in LOCAL_ABILITIES for name in ABILITIES
    }
    assert caps["has_kubernetes"] is False
    assert caps["destructive_allowed"] is True
    assert caps["has_hub"] is False  # not provisioned: no hub endpoint yet
    existing = _existing(tmp_path).describe()["capabilities"]
    assert not any(existing[name] for name in ABILITIES)
    assert existing["has_hub"] is False and existing["has_spark"] is False
    assert existing["list_kernels"] is True


def test_kubernetes_section_gives_cluster_access_and_an_unpullable_image(tmp_path):
    """An ability held as an object: only an existing target whose config has a kubernetes:
    section offers it, and the report lists it."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "gateway: {url: 'http://127.0.0.1:9', kernelspec: k8s_python}\n"
        "kubernetes: {namespace: eg, kubeconfig: /nowhere/config, shared_namespace: true}\n"
    )
    target = make_target(TargetSpec(kind="existing", config_path=str(path), run_id="r-k"))
    access = require(target, ClusterAccess).kubernetes()
    assert (access.namespace, access.kubeconfig, access.shared_namespace) == (
        "eg",
        "/nowhere/config",
        True,
    )
    spec, env, image = require(target, UnpullableImage).unpullable_image()
    assert (spec, env, image) == (None, {"KERNEL_IMAGE": UNPULLABLE_IMAGE}, UNPULLABLE_IMAGE)
    caps = target.describe()["capabilities"]
    assert caps["cluster_access"] and caps["unpullable_image"] and caps["has_kubernetes"]
    with pytest.raises(pytest.skip.Exception, match="no Kubernetes access.*kubernetes: section"):
        require(_existing(tmp_path), ClusterAccess)
    with pytest.raises(pytest.skip.Exception, match="Kubernetes access"):
        require(LocalTarget(), ClusterAccess)


def test_every_target_has_a_run_id_and_diagnostics_dir(tmp_path):
    assert _existing(tmp_path).run_id == "r-existing"
    assert make_target(TargetSpec(run_id="r-1")).run_id == "r-1"
    bare = _Bare()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", bare.run_id)
    assert bare.diagnostics_dir is None


def test_run_ids_sort_by_time_and_differ():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) > 40  # 16 random bits within one second: collisions are rare, not zero
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", i) for i in ids)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_redacts_and_writes_plain_lines_off_a_terminal():
    token = secrets.new_token()
    out = io.StringIO()
    say = progress.console(out)
    say(f"gateway token {token} and /api?token=abcdefghijkl")
    long = "x" * 300
    say(long)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"[eg-harness] gateway token {secrets.REDACTED} and /api?token=[REDACTED]"
    assert lines[1] == f"[eg-harness] {long}"  # never wrapped: CI logs stay greppable
    assert "\x1b[" not in out.getvalue()


def test_console_on_a_terminal_still_redacts():
    token = secrets.new_token()
    out = _Tty()
    progress.console(out)(f"token {token}")
    assert token not in out.getvalue() and secrets.REDACTED in out.getvalue()
    assert "[eg-harness]" in out.getvalue()


def test_console_through_pytest_uses_the_terminal_reporter_with_capture_off():
    events = []

    class Reporter:
        def ensure_newline(self):
            events.append("newline")

        def write_line(self, line):
            events.append(line)

        def flush(self):
            events.append("flush")

    class Capman:
        def global_and_fixture_disabled(self):
            import contextlib

            @contextlib.contextmanager
            def off():
                events.append("capture off")
                yield
                events.append("capture on")

            return off()

    class Config:
        class pluginmanager:  # noqa: N801 - shaped like pytest's
            @staticmethod
            def get_plugin(name):
                return {"terminalreporter": Reporter(), "capturemanager": Capman()}[name]

    token = secrets.new_token()
    progress.through_pytest(Config)(f"t={token}")
    assert events == [
        "capture off",
        "newline",
        f"[eg-harness] t={secrets.REDACTED}",
        "flush",
        "capture on",
    ]


def test_kind_target_has_cluster_access_before_it_has_a_cluster():
    """The kubernetes suite asks before provisioning: kind always has a cluster, so it says yes;
    the access itself is there once the cluster is."""
    from eg_harness.errors import TargetUnavailable
    from eg_harness.targets.kind.target import KindTarget

    kind = KindTarget(run_id="r-kind")
    assert require(kind, ClusterAccess) is kind and kind.ability(UnpullableImage) is kind
    assert kind.describe()["capabilities"]["has_kubernetes"] is True
    with pytest.raises(TargetUnavailable, match="not provisioned yet"):
        kind.kubernetes()


def test_own_stacks_are_numbered_after_the_run_and_keep_its_faults(monkeypatch):
    """A short-lived stack carries the run's id as a prefix (leak checks find it; its own
    sweep cannot touch the parent's processes) and the parent's faults and versions."""
    from eg_harness.targets.abilities import OwnStacks
    from eg_harness.targets.local import target as local_module

    made = []

    def fake_provision(self, progress=print):
        made.append(self)

    monkeypatch.setattr(local_module.LocalTarget, "provision", fake_provision)
    monkeypatch.setattr(local_module.LocalTarget, "teardown", lambda self: {"processes": []})
    parent = LocalTarget(faults=["gateway_culls_connected"], run_id="r-9")
    control = require(parent, OwnStacks)
    with control.own_stack(gateway_config={"X.y": 1}, progress=lambda _m: None) as one:
        assert one.run_id == f"r-9-own1-p{os.getpid()}"
        assert one.faults == ["gateway_culls_connected"]
        assert one._gateway_config == {"X.y": 1}
    with control.own_stack(progress=lambda _m: None) as two:
        assert two.run_id.startswith("r-9-own2-") and two.stack_versions == parent.stack_versions
    assert made == [one, two]


def test_an_own_stack_that_leaves_something_raises(monkeypatch):
    from eg_harness.errors import HarnessError
    from eg_harness.targets.local import target as local_module

    monkeypatch.setattr(local_module.LocalTarget, "provision", lambda self, progress=print: None)
    monkeypatch.setattr(local_module.LocalTarget, "teardown", lambda self: {"processes": ["1 x"]})
    with pytest.raises(HarnessError, match="left behind"), LocalTarget().own_stack():
        pass


def test_component_changes_merge_and_none_unsets():
    from eg_harness.targets.local.target import _merged

    assert _merged({"A": "1", "B": "2"}, {"B": None, "C": "3"}) == {"A": "1", "C": "3"}
    assert _merged({"A": "1"}, None) == {"A": "1"}


def test_a_gateway_only_local_stack_has_one_component():
    """A bench of gateway journeys stands up no hub (eg_harness.cli.bench): nothing to stop or
    sample."""
    assert LocalTarget().components() == ["gateway", "proxy", "hub"]
    assert LocalTarget(with_hub=False).components() == ["gateway"]
