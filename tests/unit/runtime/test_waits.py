"""Unit tests for harness.waits.wait_for: bounded polling that says what it waited for."""

from __future__ import annotations

import time

import pytest
from eg_harness.errors import HarnessError
from eg_harness.runtime.waits import WaitTimeout, wait_for


def test_returns_the_first_truthy_value():
    values = iter([None, 0, "", [], {"ready": True}, "later"])
    calls = []

    def check():
        value = next(values)
        calls.append(value)
        return value

    assert wait_for("readiness", check, timeout=5, interval=0.001) == {"ready": True}
    assert len(calls) == 5  # stopped polling at the first truthy value


def test_immediately_true_does_not_sleep():
    t0 = time.monotonic()
    assert wait_for("x", lambda: 42, timeout=10, interval=5) == 42
    assert time.monotonic() - t0 < 1.0


def test_times_out_within_a_bound_and_names_what_and_last_value():
    calls = 0

    def check():
        nonlocal calls
        calls += 1
        return []

    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        wait_for("the gateway to list kernels", check, timeout=0.3, interval=0.02)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5
    assert calls >= 2  # it polled, not just one check
    msg = str(info.value)
    assert "the gateway to list kernels" in msg
    assert "0.3s" in msg
    assert "last value: []" in msg


def test_backoff_never_overshoots_the_deadline():
    # A long interval must be cut to the remaining time, not slept in full.
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout):
        wait_for("never", lambda: False, timeout=0.2, interval=10, max_interval=10)
    assert time.monotonic() - t0 < 1.5


def test_exceptions_count_as_not_yet():
    attempts = []

    def check():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("port 8888 not open")
        return "up"

    assert wait_for("the port", check, timeout=5, interval=0.001) == "up"
    assert len(attempts) == 3


def test_timeout_message_names_the_last_error():
    def check():
        raise ConnectionRefusedError("port 8888 not open")

    with pytest.raises(WaitTimeout) as info:
        wait_for("the gateway port", check, timeout=0.1, interval=0.01)
    msg = str(info.value)
    assert "the gateway port" in msg
    assert "last error: ConnectionRefusedError: port 8888 not open" in msg


def test_last_observation_is_the_latest_one():
    seq = iter([ValueError("first"), None])

    def check():
        item = next(seq, None)
        if isinstance(item, Exception):
            raise item
        return item

    with pytest.raises(WaitTimeout) as info:
        wait_for("x", check, timeout=0.1, interval=0.01)
    assert "last value: None" in str(info.value)
    assert "first" not in str(info.value)


def test_detail_output_appears_in_the_message():
    with pytest.raises(WaitTimeout) as info:
        wait_for(
            "kernel k1 to be idle",
            lambda: None,
            timeout=0.05,
            interval=0.01,
            detail=lambda: "kernel state: busy (3 pending)",
        )
    assert "kernel state: busy (3 pending)" in str(info.value)
    assert "kernel k1 to be idle" in str(info.value)


def test_failing_detail_is_reported_not_raised():
    def detail():
        raise RuntimeError("gateway gone")

    with pytest.raises(WaitTimeout) as info:
        wait_for("x", lambda: None, timeout=0.05, interval=0.01, detail=detail)
    assert "could not describe state: gateway gone" in str(info.value)


def test_detail_is_not_called_on_success():
    def detail():
        raise AssertionError("detail must only run on timeout")

    assert wait_for("x", lambda: "ok", timeout=1, detail=detail) == "ok"


def test_zero_timeout_checks_once():
    calls = []
    with pytest.raises(WaitTimeout):
        wait_for("x", lambda: calls.append(1), timeout=0)
    assert calls == [1]
    assert wait_for("x", lambda: "yes", timeout=0) == "yes"


def test_wait_timeout_is_an_assertion_error_and_a_harness_error():
    assert issubclass(WaitTimeout, AssertionError)
    assert issubclass(WaitTimeout, HarnessError)
    with pytest.raises(AssertionError):
        wait_for("x", lambda: None, timeout=0.01, interval=0.01)
