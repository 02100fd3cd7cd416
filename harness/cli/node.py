"""`eg-harness node-figures`: the node target's figures, measured on this machine.

Bring-up (with each step's share: a cold one builds Kubernetes and the images), idle memory and
CPU of the cluster, N python kernel starts as phases (p50/p95), the same starts on the local
target beside them, and teardown. Printed as a table and written as JSON (--out).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from eg_harness.errors import EXIT_OK
from eg_harness.runtime.progress import console
from eg_harness.targets.spec import TargetSpec, make_target


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "node-figures",
        help="figures of the node target: bring-up, idle cost, kernel start phases, teardown",
    )
    p.set_defaults(func=cmd_node_figures)
    p.add_argument(
        "--starts", type=int, default=20, help="python kernel starts (default 20; 0: none)"
    )
    p.add_argument(
        "--spark-starts",
        type=int,
        default=0,
        help="spark_python_kubernetes starts split into phases from the driver's and executors' "
        "pod events (default 0; each takes about a minute here)",
    )
    p.add_argument("--idle-seconds", type=float, default=20.0, help="idle window (default 20)")
    p.add_argument(
        "--no-local", action="store_true", help="skip the local target's starts beside them"
    )
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    prep = sub.add_parser(
        "node-prepare",
        help="make this machine ready for --target node: Debian packages, Kubernetes built "
        "from its source package, the images (all cached; a fresh machine takes ~15 min)",
    )
    prep.set_defaults(func=cmd_node_prepare)


def cmd_node_prepare(args) -> int:
    """Everything a node run needs before its first bring-up, with progress: what CI does
    once on a fresh machine so that the suites' runs are warm. Preflight's problems end it
    with exit 3, one line each."""
    from eg_harness.targets.kind.egdist import ensure_eg_dist
    from eg_harness.targets.kind.pins import load_pins as load_kind_pins
    from eg_harness.targets.node import k8sbuild, preflight
    from eg_harness.targets.node.images import build_node_images, export_image
    from eg_harness.targets.node.target import IMAGES

    say = console(sys.stderr)
    t0 = time.monotonic()
    found = preflight.require(say)
    say("preflight: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    t1 = time.monotonic()
    k8sbuild.ensure_binaries(say)
    t2 = time.monotonic()
    eg = ensure_eg_dist(say, load_kind_pins())
    for image in build_node_images(IMAGES, eg, say):
        export_image(image, say)
    t3 = time.monotonic()
    print(
        f"node target ready: preflight and packages {t1 - t0:.0f}s, Kubernetes binaries "
        f"{t2 - t1:.0f}s, images {t3 - t2:.0f}s"
    )
    return EXIT_OK


def _local_starts(n: int, say) -> list[dict]:
    from eg_harness.targets.node.figures import span_offsets

    target = make_target(TargetSpec(), with_hub=False)  # the gateway alone, to compare with
    out = []
    try:
        target.provision(say)
        client = target.gateway.client()
        for _ in range(n):
            handle = client.launch(target.gateway.kernelspec or "python3")
            handle.close()
            out.append(span_offsets(handle.span.to_dict()))
        client.close()
    finally:
        target.teardown()
    return out


def _node_starts(target, n: int, say) -> list[dict]:
    from eg_harness.checks.layers import breakdown
    from eg_harness.k8s.client import Kube
    from eg_harness.runtime.waits import wait_for
    from eg_harness.targets.node.figures import phase_offsets

    kube = Kube(target.kubernetes())
    client = target.gateway.client()
    out = []
    try:
        for i in range(1, n + 1):
            handle = client.launch(target.gateway.kernelspec)
            try:
                pod = wait_for(
                    f"kernel {handle.id}'s pod", lambda h=handle: kube.kernel_pods(h.id), 30
                )[0]
                events = kube.events_of(pod)
            finally:
                handle.close()
            b = breakdown(handle.span.to_dict(), pod, events, label=f"start {i}")
            out.append(phase_offsets(b))
            say(f"start {i}/{n}: " + ", ".join(f"{k} {v}" for k, v in out[-1].items()))
    finally:
        client.close()
        kube.close()
    return out


def _spark_starts(target, n: int, say, record: dict | None = None) -> list[dict]:
    """n Spark starts at the gateway, one after another, each split into phases from its
    driver's and executors' pod events; the first execute reads the SparkContext."""
    from eg_harness.checks.spark import launch_env
    from eg_harness.k8s.client import Kube
    from eg_harness.runtime.waits import wait_for
    from eg_harness.targets.node.figures import spark_phase_offsets

    spark = target.spark
    if spark is None:
        say("no Spark on this node target: no Spark starts")
        return []
    kube = Kube(target.kubernetes())
    client = target.gateway.client()
    out = []
    try:
        for i in range(1, n + 1):
            handle = client.launch(
                spark.kernelspec,
                launch_env(spark.launch_timeout),
                first_code=SPARK_FIRST_CODE,
                span_name="spark_start",
            )
            try:
                pods = wait_for(
                    f"kernel {handle.id}'s driver pod",
                    lambda h=handle: kube.kernel_pods(h.id),
                    30,
                )
                role = [(p, (p.metadata.labels or {}).get("spark-role")) for p in pods]
                driver = next(p for p, r in role if r != "executor")
                executors = [(p, kube.events_of(p)) for p, r in role if r == "executor"]
                driver_events = kube.events_of(driver)
            finally:
                handle.close()
            out.append(spark_phase_offsets(handle.span.to_dict(), driver, driver_events, executors))
            if record is not None and not record:
                # The first start's raw facts: what the phase split read, for a unit test.
                to_json = kube.core.api_client.sanitize_for_serialization
                record.update(
                    span=handle.span.to_dict(),
                    driver=to_json(driver),
                    driver_events=to_json(driver_events),
                    executors=[[to_json(p), to_json(ev)] for p, ev in executors],
                )
            say(
                f"spark start {i}/{n} ({len(executors)} executor pods): "
                + ", ".join(f"{k} {v}" for k, v in out[-1].items())
            )
    finally:
        client.close()
        kube.close()
    return out


# Reads the SparkContext, which EG's lazy mode starts beside the kernel: the first execute
# waits for it, as a user's first Spark cell does.
SPARK_FIRST_CODE = "print(sc.applicationId)"


def cmd_node_figures(args) -> int:
    from eg_harness.targets.node import figures

    say = console(sys.stderr)
    doc: dict = {"starts": args.starts, "spark_starts": args.spark_starts}
    target = make_target(TargetSpec(kind="node"))
    spark: list[dict] = []
    try:
        t0 = time.monotonic()
        target.provision(say)
        doc["bring_up_s"] = round(time.monotonic() - t0, 1)
        doc["bring_up_steps_s"] = target.step_seconds
        doc["versions"] = target.versions()
        find = figures.cluster_finder(target)
        assert find is not None
        say(f"measuring the idle cluster for {args.idle_seconds:.0f}s")
        doc["idle"] = figures.idle_usage(find(), args.idle_seconds)
        node = _node_starts(target, args.starts, say)
        doc["node_starts"] = node
        doc["spark_first_start_raw"] = raw = {}
        spark = _spark_starts(target, args.spark_starts, say, raw)
        doc["spark_starts_phases"] = spark
    finally:
        t1 = time.monotonic()
        left = target.teardown()
        doc["teardown_s"] = round(time.monotonic() - t1, 1)
        doc["left"] = left
    columns = {"node": figures.summary(node)}
    if not args.no_local:
        local = _local_starts(args.starts, say)
        doc["local_starts"] = local
        columns["local"] = figures.summary(local)
    doc["summary"] = columns
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in doc["bring_up_steps_s"].items())
    print(f"bring-up {doc['bring_up_s']}s ({steps})")
    idle = doc["idle"]
    print(
        f"idle: {idle['rss_mib']} MiB RSS in {idle['processes']} processes, "
        f"{idle['cpu_percent_of_one_core']}% of one core over {idle['window_s']}s"
    )
    print(f"teardown {doc['teardown_s']}s; left: {left or 'nothing'}")
    print(f"python kernel starts, {args.starts} per target:")
    print(figures.table(columns))
    if spark:
        doc["spark_summary"] = spark_summary = figures.summary(spark, figures.SPARK_PHASES)
        print(f"spark_python_kubernetes starts ({len(spark)}, one after another):")
        print(figures.table({"spark": spark_summary}, figures.SPARK_PHASES))
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2, default=str))
    return EXIT_OK if not any(left.values()) else 1
