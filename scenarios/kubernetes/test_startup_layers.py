"""Time to a usable kernel, by layer: gateway and scheduler, image pull, container start,
kernel boot to the launcher's report, channels and first execute.

The harness's span gives the ends (requested, EG's 201, first execute); the pod's events give
the middle. Several starts, because the first may pull the image and the next ones not: the
table and chart show both. Figures are recorded, never asserted; the test fails only when a
milestone the harness must always see is missing.
"""

from __future__ import annotations

from eg_harness.checks.layers import LAYERS, TABLE_COLUMNS, breakdown, order_problems
from eg_harness.report import charts

STARTS = 3
TABLE = "Time to a usable kernel by layer (s)"


def test_time_to_usable_kernel_by_layer(kube, kernel_pods, gateway, target, run_state):
    problems = []
    found = []
    for i in range(1, STARTS + 1):
        handle = gateway.launch(target.gateway.kernelspec, attrs={"layers": i})
        try:
            pod = kernel_pods(handle.id)[0]
            events = kube.events_of(pod)  # before shutdown: EG may delete their namespace
        finally:
            handle.close()
        b = breakdown(handle.span.to_dict(), pod, events, label=f"start {i}")
        found.append(b)
        problems += order_problems(b)
        run_state.table_row(
            TABLE,
            TABLE_COLUMNS,
            b.row(),
            note="Kubelet events have whole-second timestamps; the gateway's 201 marks the "
            "launcher's report (EG answers once the launcher has sent its ports).",
        )
        for layer, seconds in b.layers.items():
            if seconds is not None:
                run_state.metric(f"layer {layer}", seconds, "s", start=i)
    run_state.charts.append(
        charts.layers_chart([(b.label, b.layers) for b in found], list(LAYERS.values()))
    )
    assert not problems, "\n".join(problems)
