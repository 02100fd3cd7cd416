"""A Spark start split into phases (targets/node/figures.py) from its span and the driver's and
executors' pod events, as the API server returns them (deserialised by the kubernetes client
like a live call)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eg_harness.k8s.client import from_json
from eg_harness.targets.node.figures import SPARK_PHASES, spark_phase_offsets, summary, table

T0 = "2026-12-06T15:30:00.250000+00:00"  # the span's start: "requested" at offset 0


def _pod(name: str, role: str) -> object:
    return from_json(
        "V1Pod",
        {
            "metadata": {
                "name": name,
                "namespace": "egh-k1",
                "labels": {"kernel_id": "k1", "spark-role": role},
            },
            "status": {"phase": "Running"},
        },
    )


def _events(name: str, **at: str) -> list:
    items = [
        {
            "metadata": {"name": f"{name}.{i}", "namespace": "egh-k1"},
            "involvedObject": {"kind": "Pod", "name": name},
            "reason": reason,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
        }
        for i, (reason, stamp) in enumerate(at.items())
    ]
    return from_json("CoreV1EventList", {"items": items}).items


SPAN = {
    "name": "spark_start",
    "start": T0,
    "phases": {"requested": 0.0, "accepted": 21.7, "first_execute_reply": 38.4},
}
DRIVER = _pod("egh-k1-driver", "driver")
DRIVER_EVENTS = _events(
    "egh-k1-driver",
    Scheduled="2026-12-06T15:30:04Z",
    Pulled="2026-12-06T15:30:05Z",
    Started="2026-12-06T15:30:06Z",
)
EXECUTORS = [
    (_pod("exec-2", "executor"), _events("exec-2", Scheduled="2026-12-06T15:30:31Z")),
    (
        _pod("exec-1", "executor"),
        _events("exec-1", Scheduled="2026-12-06T15:30:30Z", Started="2026-12-06T15:30:33Z"),
    ),
]


def test_a_spark_start_is_split_into_offsets_from_its_request():
    got = spark_phase_offsets(SPAN, DRIVER, DRIVER_EVENTS, EXECUTORS)
    assert list(got) == list(SPARK_PHASES)
    assert got == {
        "driver pod scheduled": 3.75,
        "driver container started": 5.75,
        "kernel reported": 21.7,
        "executor pod scheduled": 29.75,  # the first executor's, not the last one's
        "executor container started": 32.75,
        "first execute": 38.4,
    }


def test_a_start_whose_executors_never_ran_says_not_seen_and_the_summary_counts_it():
    pending = [(_pod("exec-1", "executor"), _events("exec-1", FailedScheduling=T0[:19] + "Z"))]
    quiet = spark_phase_offsets(SPAN, DRIVER, DRIVER_EVENTS, pending)
    assert quiet["executor pod scheduled"] is None and quiet["executor container started"] is None
    full = spark_phase_offsets(SPAN, DRIVER, DRIVER_EVENTS, EXECUTORS)
    got = summary([full, quiet], SPARK_PHASES)
    assert got["executor pod scheduled"] == {"n": 1, "p50": 29.75, "p95": 29.75}
    assert got["first execute"]["n"] == 2
    text = table({"spark": got}, SPARK_PHASES)
    assert "executor container started" in text and "spark p95" in text


def test_an_executor_stamp_before_the_request_is_the_request():
    early = [(_pod("e", "executor"), _events("e", Scheduled="2026-12-06T15:30:00Z"))]
    assert spark_phase_offsets(SPAN, DRIVER, DRIVER_EVENTS, early)["executor pod scheduled"] == 0.0


@pytest.mark.parametrize("phase", ["driver pod scheduled", "driver container started"])
def test_a_driver_without_events_leaves_its_phases_unknown(phase):
    assert spark_phase_offsets(SPAN, DRIVER, [], EXECUTORS)[phase] is None


RECORDED = Path(__file__).resolve().parents[2] / "data" / "node-spark-start.json"


def test_a_recorded_spark_start_gives_the_phases_that_run_printed():
    """The first of `node-figures --spark-starts 3` (2026-12-06): its span, driver pod and
    events, and its two executor pods (one never scheduled: 2 cores, a CPU each)."""
    doc = json.loads(RECORDED.read_text())
    executors = [
        (from_json("V1Pod", pod), from_json("CoreV1EventList", {"items": events}).items)
        for pod, events in doc["executors"]
    ]
    driver_events = from_json("CoreV1EventList", {"items": doc["driver_events"]}).items
    got = spark_phase_offsets(
        doc["span"], from_json("V1Pod", doc["driver"]), driver_events, executors
    )
    assert got == {
        "driver pod scheduled": 3.027,
        "driver container started": 3.272,
        "kernel reported": 5.414,
        "executor pod scheduled": 34.98,
        "executor container started": 35.272,
        "first execute": 36.876,
    }
    # The executor that stayed Pending alone: no executor phase, the driver's unchanged.
    alone = spark_phase_offsets(
        doc["span"], from_json("V1Pod", doc["driver"]), driver_events, executors[1:]
    )
    assert alone["executor pod scheduled"] is None and alone["kernel reported"] == 5.414
