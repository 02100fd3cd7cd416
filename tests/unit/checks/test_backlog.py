"""The loss classifier on message streams shaped like the two ways outputs go missing."""

from __future__ import annotations

from datetime import datetime, timezone

from eg_harness.checks import backlog

T0 = 1_800_000_000.0


def _stream(n: int, send_rate: float, drain_rate: float, lost: range, offset: float = 0.3):
    """A kernel sending n messages at send_rate/s to a client draining drain_rate/s.

    `offset` is the clock difference plus transit: it must not count as backlog.
    """
    frames, arrivals, free_at = [], {}, T0
    for i in range(n):
        sent = T0 + i / send_rate
        free_at = max(free_at, sent) + 1 / drain_rate
        if i in lost:
            continue
        msg_id = f"abc123_4242_{i}"
        date = datetime.fromtimestamp(sent, timezone.utc).isoformat().replace("+00:00", "Z")
        frames.append({"header": {"msg_id": msg_id, "date": date}})
        arrivals[msg_id] = free_at + offset
    return frames, arrivals


def test_counter_parses_jupyter_client_msg_ids():
    assert backlog.counter("5d2f-aa_1234_17") == ("5d2f-aa_1234", 17)
    assert backlog.counter("no-counter-here") is None
    assert backlog.counter("") is None


def test_a_hop_that_drops_without_backlog_is_not_backpressure():
    frames, arrivals = _stream(5000, send_rate=2000, drain_rate=50_000, lost=range(2000, 2400))
    (gap,) = backlog.explain(frames, arrivals)
    assert (gap.after, gap.lost) == (1999, 400)
    assert gap.behind_msgs < 5 and not gap.backpressure, gap.describe()


def test_a_consumer_far_behind_is_backpressure():
    # The client drains at a fifth of the kernel's pace: thousands queue before the gap.
    frames, arrivals = _stream(10_000, send_rate=5000, drain_rate=1000, lost=range(7000, 8250))
    (gap,) = backlog.explain(frames, arrivals)
    assert (gap.after, gap.lost) == (6999, 1250)
    assert gap.behind_msgs > backlog.ZMQ_DEFAULT_HWM and gap.backpressure, gap.describe()
    assert gap.behind_s > 1.0


def test_stray_counters_of_other_clients_are_not_gaps():
    frames, arrivals = _stream(300, send_rate=1000, drain_rate=50_000, lost=range(100, 102))
    assert backlog.explain(frames, arrivals) == []


def test_frames_without_counters_or_arrival_times_are_ignored():
    frames, arrivals = _stream(50, send_rate=1000, drain_rate=50_000, lost=range(0))
    frames.append({"header": {"msg_id": "legacy-uuid-without-counter", "date": "x"}})
    frames.append({"header": {"msg_id": "abc123_4242_999"}})  # no date
    assert backlog.explain(frames, arrivals) == []


def test_the_tail_of_a_stream_lost_behind_a_backlog_is_backpressure():
    # The last outputs vanish; the kernel's reply (counter 10,000) still comes. When those
    # outputs were sent the client was thousands behind, though few messages came after them.
    frames, arrivals = _stream(10_001, send_rate=5000, drain_rate=1000, lost=range(9970, 10_000))
    (gap,) = backlog.explain(frames, arrivals)
    assert (gap.after, gap.lost) == (9969, 30)
    assert gap.backpressure, gap.describe()
