"""Sequence breaks are located; bounds follow the measured pace; INCONCLUSIVE is a skip."""

from __future__ import annotations

import pytest
from eg_harness.checks import verdict
from eg_harness.checks.sequence import breaks
from eg_harness.fixtures.verdict import inconclusive


def test_complete_sequence_has_no_break():
    assert breaks([str(i) for i in range(100)], 100) is None


def test_a_dropped_burst_is_named_as_a_range():
    lines = [str(i) for i in range(100) if not 40 <= i < 70]
    text = breaks(lines, 100)
    assert text.startswith("70 of 100 arrived, first difference at position 40")
    assert "missing 30: 40..69" in text
    assert "out of order" not in text


def test_duplicates_reordering_and_junk_are_reported():
    lines = ["0", "2", "1", "2", "oops", "3"]
    text = breaks(lines, 5)
    assert "missing 1: 4" in text
    assert "duplicated: 2" in text
    assert "out of order" in text
    assert "1 lines that are not numbers" in text


def test_bound_follows_the_measured_pace_with_a_floor():
    fast = verdict.Pace(messages=500, seconds=0.5)  # 1000 msg/s
    assert fast.bound(10_000) == 60.0  # 5 x 10 s = 50 s, below the floor
    slow = verdict.Pace(messages=500, seconds=5.0)  # 100 msg/s
    assert slow.bound(10_000) == pytest.approx(500.0)
    assert "100 msg/s" in slow.describe()


def test_calibrate_counts_what_arrived():
    pace = verdict.calibrate(lambda n: n - 1, n=10)
    assert pace.messages == 9 and pace.seconds >= 0


def test_inconclusive_is_a_skip_with_the_prefix():
    with pytest.raises(pytest.skip.Exception) as info:
        inconclusive("2000 of 10000 after 60s, still arriving")
    assert str(info.value).startswith("INCONCLUSIVE: 2000 of 10000")
    assert verdict.is_inconclusive("Skipped: INCONCLUSIVE: x")
    assert not verdict.is_inconclusive("Skipped: needs a hub")
    assert not verdict.is_inconclusive(None)
