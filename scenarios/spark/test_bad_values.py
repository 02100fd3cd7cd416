"""Bad driver sizes fail clearly, within the launch timeout, and leave nothing running.

EG's docs suggest Kubernetes units (2Gi) that Spark rejects; users type non-numbers and zero;
and a request larger than any node can never be scheduled (EG #932: pods Pending until the
timeout). Whatever the layer that notices, the user must get a failure in bounded time, and no
half-started driver may be left behind. How each layer surfaced it is recorded for the report.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
from eg_harness.checks.spark import launch_env
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.clients.hub import SpawnFailed
from eg_harness.runtime.text import clip
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.abilities import ProcessView

PAD = 15.0  # seconds beyond the launch timeout that the layers may take to answer
TABLE = "Bad driver memory values"
COLUMNS = ["value", "hop", "outcome", "after (s)", "what the user sees", "names the cause"]
# Every Spark launch process of the run counts as a leftover (a failed start has no kernel id
# to tell them apart), so no other Spark kernel may be starting: alone in a parallel run.
pytestmark = pytest.mark.serial


def _bad_values(spark) -> list[tuple[str, str]]:
    return [
        ("2Gi", "a Kubernetes unit, as EG's docs suggest"),
        ("lots", "not a number"),
        ("0", "zero"),
        (spark.oversize_memory, "more memory than any node has"),
    ]


def _names_cause(message: str, value: str) -> bool:
    text = message.lower()
    standalone = rf"(?<![\w-]){re.escape(value.lower())}(?![\w-])"
    return bool(re.search(standalone, text) or re.search(r"heap|memory|-xmx", text))


def _record(run_state, value: str, hop: str, outcome: str, took: float, message: str) -> None:
    named = _names_cause(message, value)
    run_state.table_row(
        TABLE,
        COLUMNS,
        [value, hop, outcome, round(took, 1), clip(message, 160), "yes" if named else "no"],
        note="Each bad KERNEL_MEMORY is requested straight at the gateway and, where the hub "
        "offers a free-text memory option, through a user server.",
    )


def _leftover_processes(target, kernel_ids: set[str]) -> list[str]:
    """Spark launch processes still alive: the run script, spark-submit's JVM, the launcher.

    A failed start usually has no kernel id the harness could know (EG names it only in its
    message), so every Spark launch process of the run counts; the suite runs one at a time.
    """
    view = target.ability(ProcessView)
    if view is None:
        return []
    marks = ("run_spark.py", "org.apache.spark.deploy.SparkSubmit", "--spark-context-init")
    left = []
    for p in view.run_processes():
        try:
            cmd = " ".join(p.cmdline())
        except Exception:
            continue
        if any(m in cmd for m in marks) or any(k in cmd for k in kernel_ids):
            left.append(f"{p.pid} {clip(cmd, 100)}")
    return left


def _leftovers_after(target, kernel_ids: set[str], timeout: float = 15.0) -> list[str]:
    """Give exiting processes a bounded moment; whatever is still there is left behind."""
    try:
        wait_for(
            "the failed start's Spark processes to exit",
            lambda: not _leftover_processes(target, kernel_ids),
            timeout,
        )
        return []
    except WaitTimeout:
        return _leftover_processes(target, kernel_ids)


def _try_start(client, spark, env) -> tuple[str, str, set[str]]:
    """(outcome, message, kernel ids seen) of one start that is expected to fail."""
    try:
        model = client.start_kernel(spark.kernelspec, env, timeout=spark.launch_timeout + PAD)
    except GatewayHTTPError as exc:
        return f"HTTP {exc.status}", exc.server_message or str(exc), set()
    except httpx.TimeoutException:
        return "no answer", f"no answer within {spark.launch_timeout + PAD:.0f}s", set()
    # Accepted: the failure (if any) must show when the kernel is used.
    kernel_id = model["id"]
    try:
        chans = client.channels(kernel_id, connect_timeout=spark.launch_timeout)
        try:
            chans.wait_ready(spark.launch_timeout)
            res = chans.execute("print(sc._conf.get('spark.driver.memory'))", timeout=60)
            said = res.stdout.strip() or res.describe_error()
            return "started", f"kernel started (driver memory {said})", {kernel_id}
        finally:
            chans.close()
    except Exception as exc:
        return "accepted, then dead", clip(str(exc), 300), {kernel_id}
    finally:
        client.shutdown_quietly(kernel_id)


def test_bad_memory_fails_clearly_at_the_gateway(spark, gateway, target, run_state):
    before = _kernel_ids(gateway, target)
    failures = []
    for value, why in _bad_values(spark):
        env = launch_env(spark.launch_timeout, KERNEL_MEMORY=value, KERNEL_CPUS="1")
        t0 = time.monotonic()
        outcome, message, seen = _try_start(gateway, spark, env)
        took = time.monotonic() - t0
        _record(run_state, value, "gateway", outcome, took, message)
        if outcome == "started":
            failures.append(f"KERNEL_MEMORY={value} ({why}) started a kernel: {message}")
        elif took > spark.launch_timeout + PAD:
            failures.append(
                f"KERNEL_MEMORY={value} ({why}) failed only after {took:.0f}s, beyond the "
                f"launch timeout {spark.launch_timeout:.0f}s"
            )
        left = _leftovers_after(target, seen)
        if left:
            failures.append(f"KERNEL_MEMORY={value} left processes running: {left}")
    _assert_no_kernels_left(gateway, target, spark, before, failures)
    assert not failures, "\n".join(failures)


def test_bad_memory_fails_clearly_through_the_hub(
    spark, hub, gateway, target, spark_user_server, run_state
):
    if not spark.free_memory_option:
        pytest.skip("the hub offers no free-text memory option (spark.free_memory_option)")
    before = _kernel_ids(gateway, target)
    base = next((c.user_options for c in spark.choices if c.user_options), {})
    failures = []
    for value, why in _bad_values(spark):
        options = {**base, f"{spark.free_memory_option}--unlisted-choice": value}
        options.pop(spark.free_memory_option, None)
        t0 = time.monotonic()
        try:
            with spark_user_server(options) as server:
                outcome, message, seen = _try_start(server.client, spark, None)
        except SpawnFailed as exc:
            outcome, message, seen = "spawn refused", exc.server_message or str(exc), set()
        took = time.monotonic() - t0
        _record(run_state, value, "hub", outcome, took, message)
        left = _leftovers_after(target, seen)
        if left:
            failures.append(f"profile memory {value!r} left processes running: {left}")
        if outcome == "started":
            failures.append(f"profile memory {value!r} ({why}) started a kernel: {message}")
        elif outcome == "no answer":
            failures.append(
                f"profile memory {value!r} ({why}): the user server gave no answer within the "
                f"launch timeout {spark.launch_timeout:.0f}s + {PAD:.0f}s"
            )
    _assert_no_kernels_left(gateway, target, spark, before, failures)
    assert not failures, "\n".join(failures)


def _kernel_ids(gateway, target) -> set[str] | None:
    return {k["id"] for k in gateway.list_kernels()} if target.capabilities.list_kernels else None


def _assert_no_kernels_left(gateway, target, spark, before, failures: list[str]) -> None:
    """No Spark kernel that was not there before the failed starts may still be listed."""
    if before is None:
        return
    left = [
        k["id"]
        for k in gateway.list_kernels()
        if k["id"] not in before and k.get("name") == spark.kernelspec
    ]
    if left:
        failures.append(f"failed Spark starts left kernels on the gateway: {left}")
