"""The verdict on what a stopped user server left on the gateway (eg_harness.checks.lifecycle),
on facts as the lifecycle scenario gathers them."""

from __future__ import annotations

import pytest
from eg_harness.checks.lifecycle import (
    CULL_FITS_S,
    SETTLE_S,
    KernelAfterStop,
    StopFacts,
    culler_fits,
    culler_wait,
    culling_text,
    describe_kernels,
    failure,
)

A = "11111111-2222-3333-4444-555555555555"
B = "66666666-7777-8888-9999-000000000000"


def facts(*gone: float | None, stop_s: float = 1.2, grace=1.0, cull=None, interval=None):
    kernels = tuple(
        KernelAfterStop(kid, "python3", g) for kid, g in zip((A, B), gone, strict=False)
    )
    return StopFacts("egh-me", stop_s, stop_s + SETTLE_S, kernels, grace, cull, interval)


def test_kernels_deleted_during_the_stop_pass():
    f = facts(0.1, 0.3)
    assert failure(f) is None
    assert f.outlived() == []
    assert "deleted 0.1s into the stop" in describe_kernels(f)


def test_a_kernel_still_running_fails_naming_it_and_the_fix():
    f = facts(0.2, None, grace=0.0)
    message = failure(f)
    assert message is not None
    assert B in message and A not in message
    assert "1 kernel(s) outlived egh-me's stopped server" in message
    assert "delete_grace_period: 0s here" in message
    assert "EG_CULL_IDLE_TIMEOUT" in message and "SIGTERM" in message


def test_a_kernel_culled_after_the_stop_still_outlived_it():
    # Gone, but only when the gateway's culler reaped it, long after the server.
    f = facts(None, 40.0, cull=30.0, interval=5.0)
    message = failure(f)
    assert message is not None and A in message and B in message
    assert "culled 40s after the stop request" in message
    assert "culls kernels idle 30s, every 5s" in message


def test_the_settle_time_is_the_edge():
    assert failure(facts(1.2 + SETTLE_S)) is None
    assert failure(facts(1.2 + SETTLE_S + 0.1)) is not None


def test_unknown_grace_period_says_where_to_give_it():
    message = failure(facts(None, grace=None))
    assert "hub.delete_grace_period in the target config" in message


@pytest.mark.parametrize(
    ("timeout", "interval", "fits"),
    [
        (None, None, None),  # not known
        (0, 2, None),  # off
        (10, 2, 14.0),
        (60, None, None),  # jupyter_server's 300 s round: 660 s
        (CULL_FITS_S, 1, None),
        (43200, 300, None),  # EG's image default
    ],
)
def test_culler_fits_only_a_culling_within_the_run(timeout, interval, fits):
    assert culler_fits(timeout, interval) == fits


def test_culling_text_says_off_unknown_and_on():
    assert "not known" in culling_text(None, None)
    assert "does not cull" in culling_text(0, None)
    assert culling_text(10, 2) == "the gateway culls kernels idle 10s, every 2s"


def test_culler_wait_doubles_the_bound_with_a_floor():
    assert culler_wait(7.0) == 17.0  # a 5 s / 1 s culling: 7 s, and 10 s more at least
    assert culler_wait(14.0) == 28.0
    assert culler_wait(CULL_FITS_S) == 2 * CULL_FITS_S
