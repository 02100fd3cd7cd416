"""The gateway poller's downtime from its samples, and the table's column and orphan checks
that read it (pure: no gateway, no cluster)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from eg_harness.checks import upgrade as table
from eg_harness.checks.upgrade import StepFacts, UserFacts
from eg_harness.errors import HarnessError
from eg_harness.runtime import versions
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import GatewayEndpoint, HubEndpoint
from eg_harness.upgrade.journey import Plan, Upgrade
from eg_harness.upgrade.poller import Sample, downtime


def _samples(pattern: str, step: float = 0.25, errors: str = "connection") -> list[Sample]:
    """'.' an answered poll, 'x' an unanswered one, every `step` seconds."""
    return [Sample(i * step, c == ".", "" if c == "." else errors) for i, c in enumerate(pattern)]


def test_all_answered_is_no_downtime():
    d = downtime(_samples("........"))
    assert (d.polls, d.failed, d.longest_s, d.errors) == (8, 0, 0.0, [])


def test_longest_stretch_runs_from_first_failure_to_next_answer():
    d = downtime(_samples("..xx....xxxx.."))
    assert d.failed == 6
    assert d.longest_s == 1.0  # polls 8..11 failed, poll 12 answered: 3.0 - 2.0
    assert d.errors == ["connection"]


def test_a_stretch_still_open_at_the_end_counts_to_the_last_poll():
    d = downtime(_samples("...xxxxx"))
    assert d.longest_s == 1.0  # from poll 3 (0.75 s) to the last poll (1.75 s)


def test_error_kinds_are_kept_in_order_once_each():
    samples = [
        Sample(0.0, False, "HTTP 503"),
        Sample(0.3, False, "connection"),
        Sample(0.6, False, "HTTP 503"),
        Sample(0.9, True),
    ]
    assert downtime(samples).errors == ["HTTP 503", "connection"]


def test_samples_out_of_order_are_judged_by_time():
    samples = [Sample(1.0, True), Sample(0.0, False, "timeout"), Sample(0.5, False, "timeout")]
    assert downtime(samples).longest_s == 1.0


def _chart_step(**kw) -> StepFacts:
    user = UserFacts(user="u1", server_kept=True, route_kept=True, recovered_s=3.0)
    base = {"action": "helm upgrade", "users": 1, "kernels": 1, "websockets": 1}
    return StepFacts(step="gateway-chart", per_user=[user], **{**base, **kw})


def test_downtime_column_says_none_measured_and_stretch():
    col = table.COLUMNS.index("gateway downtime (poller)")
    assert table.row(_chart_step())[col] == "-"  # not polled
    quiet = _chart_step(gateway_polls=40, gateway_polls_failed=0, gateway_downtime_s=0.0)
    assert table.row(quiet)[col] == "none (0/40 polls unanswered)"
    down = _chart_step(
        gateway_polls=40,
        gateway_polls_failed=6,
        gateway_downtime_s=1.5,
        gateway_poll_errors=["connection"],
    )
    assert table.row(down)[col] == "1.5s longest (6/40 polls unanswered: connection)"
    failed = _chart_step(step_error="helm failed", gateway_polls=4, gateway_downtime_s=0.0)
    assert len(table.row(failed)) == len(table.COLUMNS)


def test_chart_kernel_loss_cites_1156_not_local_process_kernels():
    reasons = table.why(_chart_step())  # 0/1 kernels kept
    assert table.EG_1156 in reasons
    assert table.EG_LOCAL_KERNELS not in reasons
    assert table.PERSISTENCE_OFF in reasons


def _pod(name, kernel_id, deleting=False, phase="Running"):
    meta = SimpleNamespace(
        name=name,
        namespace=f"ns-{name}",
        labels={"kernel_id": kernel_id, "component": "kernel"} if kernel_id else {},
        deletion_timestamp="2026-12-06T12:00:00Z" if deleting else None,
    )
    return SimpleNamespace(metadata=meta, status=SimpleNamespace(phase=phase))


def test_orphaned_kernel_pods_are_the_unknown_ones_not_being_deleted():
    pods = [
        _pod("a", "k-known"),
        _pod("b", "k-lost"),
        _pod("c", "k-going", deleting=True),
        _pod("d", None),
    ]
    found = table.orphaned_kernel_pods(pods, {"k-known"})
    assert found == ["kernel pod ns-b/b (Running) unknown to the gateway"]


def test_orphaned_pods_fail_the_step_and_cite_1086():
    f = _chart_step(orphans=["kernel pod ns-b/b (Running) unknown to the gateway"])
    assert table.EG_1086 in table.why(f)
    assert any("orphaned" in p for p in table.problems(f, 60))


class _Bare(Target):
    """A target with a gateway and a hub but no way to upgrade anything."""

    kind = "bare"

    def __init__(self) -> None:
        super().__init__("unit-bare")
        self.gateway = GatewayEndpoint("http://127.0.0.1:1", "t")
        self.hub = HubEndpoint("http://127.0.0.1:2", "t")

    def provision(self, progress=print) -> None:
        raise AssertionError("not provisioned in a unit test")

    def teardown(self) -> dict:
        return {}


def test_a_step_the_target_cannot_take_is_refused_naming_the_ability():
    v = versions.default_from()
    with pytest.raises(HarnessError, match="cannot upgrade its gateway's helm chart"):
        Upgrade(_Bare(), Plan(origin=v, dest=v, steps=("gateway-chart",)), lambda _m: None)
    with pytest.raises(HarnessError, match="stop, kill, pause and restart"):
        Upgrade(_Bare(), Plan(origin=v, dest=v, steps=("gateway",)), lambda _m: None)
