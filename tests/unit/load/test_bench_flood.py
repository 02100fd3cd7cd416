"""bench-flood's own arithmetic: lines split across stream messages, the paced flood code,
and the sustainable-rate summary (no processes: the figures come from `eg-harness bench-flood`)."""

from __future__ import annotations

import contextlib
import io

from eg_harness.load import bench_flood
from eg_harness.load.bench_flood import Flood


def _stream(parent: str, text: str) -> dict:
    return {
        "header": {"msg_type": "stream", "msg_id": f"k_1_{id(text)}"},
        "parent_header": {"msg_id": parent},
        "content": {"name": "stdout", "text": text},
    }


def test_a_line_split_over_two_messages_counts_once():
    msgs = [_stream("r", "0\n12"), _stream("r", "3\n"), _stream("other", "99\n"), _stream("r", "4")]
    lines = [line for line, _ in bench_flood._lines(msgs, "r")]
    assert lines == ["0", "123"]  # "4" has no newline yet: not a whole line


def test_the_flood_code_prints_each_number_once_in_order():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(bench_flood.FLOOD.format(n=5, rate=0), {})  # noqa: S102 - our own template
    assert out.getvalue().split() == ["0", "1", "2", "3", "4"]
    paced = io.StringIO()
    with contextlib.redirect_stdout(paced):
        exec(bench_flood.FLOOD.format(n=3, rate=1000), {})  # noqa: S102
    assert paced.getvalue().split() == ["0", "1", "2"]


def _flood(rate: int, arrived: int, relay: float, kernel: float, reader="harness") -> Flood:
    return Flood(
        hop="gateway",
        gateway_state="no remote launch yet",
        reader=reader,
        protocol="legacy",
        rate_asked=rate,
        outputs=10_000,
        published=10_000,
        kernel_rate=kernel,
        arrived=arrived,
        first_missing=None if arrived == 10_000 else arrived,
        relay_rate=relay,
        behind_s=0.0,
        gateway_cores=0.3,
        idle_arrived=arrived == 10_000,
        wall_s=10.0,
    )


def test_sustainable_names_the_fastest_clean_pace_and_the_slowest_lossy_one():
    floods = [
        _flood(0, 8_979, 1_351, 4_437),
        _flood(2_000, 9_971, 1_126, 2_000),
        _flood(1_000, 10_000, 1_000, 1_000),
        _flood(500, 10_000, 500, 500),
    ]
    (row,) = bench_flood.sustainable(floods)
    assert row["no_loss_up_to"] == 1_000
    assert row["loss_from"] == 2_000
    assert row["lost_unpaced"] == 1_021 and row["first_missing_unpaced"] == 8_979
    # the relay rate while the kernel out-printed the hop: the unpaced and 2000/s floods
    assert row["relay_rate_saturated"] == (1_351 + 1_126) / 2


def test_lost_counts_against_the_lines_asked_for():
    f = _flood(0, 9_743, 1_134, 1_774)
    f.published = 9_949  # the tap itself missed some under load
    assert f.lost == 257
