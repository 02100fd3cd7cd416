"""Kernel limits hold under a storm (EG #855: the max-kernels check raced concurrent starts).

With EG_MAX_KERNELS (or a per-user limit) set, excess launches must be refused with 403 and
quickly (no refused user should wait like an accepted one), the number of kernels must never
exceed the limit even while requests are in flight, and no refused launch may leave a kernel.

Found on EG 3.3.0 / jupyter_server 1.24: the limit check lists kernels, and listing a kernel
that is still starting raises AttributeError ('last_activity' is set only once the start
completes), so a concurrent start is answered 500 instead of started or refused with 403, and a
storm can get fewer kernels than the limit allows. It is a race, so it is reported as an xfail
naming it whenever it shows; the limit itself (never exceeded, nothing left) is always asserted.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.fixtures.abilities import require
from eg_harness.runtime.text import clip
from eg_harness.stats.percentiles import percentile
from eg_harness.targets.abilities import KernelLimits

LIMIT = 2
STORM = 6
ROUNDS = 3  # storms in a row: the start race shows only sometimes
# Counts the gateway's kernels and times refusals against starts: other tests' kernels and
# load would be in the count and the timing, so in a parallel run it runs alone.
pytestmark = pytest.mark.serial


@contextlib.contextmanager
def _limited(target):
    """A gateway with a max-kernels limit: the local target starts one beside its main gateway;
    an existing target must declare its own limit (gateway.max_kernels) and allow disruption."""
    limits = target.ability(KernelLimits)
    if limits is not None:
        with limits.limited_gateway(max_kernels=LIMIT) as endpoint:
            yield endpoint, LIMIT
        return
    limit = target.gateway.max_kernels
    if not limit:
        pytest.skip("the target declares no kernel limit (set gateway.max_kernels in its config)")
    if not target.capabilities.destructive_allowed:
        pytest.skip("filling a shared gateway to its limit disturbs its users: allow_destructive")
    yield target.gateway, limit


def _storm(client, endpoint, storm: int) -> tuple[list[tuple[str, float, str]], int, list]:
    """`storm` starts at once while a watcher polls the kernel list; returns the outcomes,
    the most kernels ever listed, and what was left after shutting the accepted ones down."""
    results: list[tuple[str, float, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(storm)
    peak = {"n": 0}
    done = threading.Event()

    def start() -> None:
        barrier.wait(30)
        t0 = time.monotonic()
        try:
            model = client.start_kernel(endpoint.kernelspec)
            outcome = ("accepted", time.monotonic() - t0, model["id"])
        except GatewayHTTPError as exc:
            outcome = (f"HTTP {exc.status}", time.monotonic() - t0, str(exc))
        except Exception as exc:  # counted, never hidden
            outcome = (type(exc).__name__, time.monotonic() - t0, clip(str(exc), 200))
        with lock:
            results.append(outcome)

    def watch() -> None:
        # Polls the kernel list while requests are in flight: the limit must hold throughout.
        while not done.is_set():
            with contextlib.suppress(Exception):
                peak["n"] = max(peak["n"], len(client.list_kernels()))
            done.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=start) for _ in range(storm)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(endpoint.launch_timeout + 60)
        with contextlib.suppress(Exception):
            peak["n"] = max(peak["n"], len(client.list_kernels()))
    finally:
        done.set()
        watcher.join(5)
        for r in results:
            if r[0] == "accepted":
                client.shutdown_quietly(r[2])
    return results, peak["n"], [k["id"] for k in client.list_kernels()]


def test_max_kernels_limit_holds_in_a_storm(target, run_state):
    races = []
    with _limited(target) as (endpoint, limit):
        client = endpoint.client(username="eg-harness-limits")
        storm = limit + 4
        try:
            for round_no in range(1, ROUNDS + 1):
                results, peak, left = _storm(client, endpoint, storm)
                races += _check_round(run_state, round_no, limit, storm, results, peak, left)
        finally:
            client.close()
    if races:
        pytest.xfail(
            "EG 3.3 / jupyter_server 1.24 race under a max-kernels limit: " + "; ".join(races[:3])
        )


def _check_round(run_state, round_no, limit, storm, results, peak, left) -> list[str]:
    accepted = [r for r in results if r[0] == "accepted"]
    refused = [r for r in results if r[0] == "HTTP 403"]
    other = [r for r in results if r[0] not in ("accepted", "HTTP 403")]
    ok_p50 = percentile([r[1] for r in accepted], 50) if accepted else None
    refused_max = max((r[1] for r in refused), default=None)
    run_state.table_row(
        "Kernel limit under a storm",
        [
            "round",
            "limit",
            "requested at once",
            "accepted",
            "refused 403",
            "other",
            "peak kernels listed",
            "accepted p50 (s)",
            "slowest refusal (s)",
            "other says",
        ],
        [
            round_no,
            limit,
            storm,
            len(accepted),
            len(refused),
            len(other),
            peak,
            None if ok_p50 is None else round(ok_p50, 3),
            None if refused_max is None else round(refused_max, 3),
            clip(other[0][2], 160) if other else "",
        ],
    )
    assert len(results) == storm, f"only {len(results)} of {storm} start requests returned"
    assert len(accepted) <= limit, f"{len(accepted)} kernels accepted with a limit of {limit}"
    assert peak <= limit, f"{peak} kernels listed at once with a limit of {limit}"
    assert refused or other, f"none of {storm} starts was refused: the limit is not enforced"
    if refused and accepted:
        assert refused_max <= max(ok_p50 * 2, 1.0), (
            f"a refused start took {refused_max:.2f}s, longer than an accepted one "
            f"({ok_p50:.2f}s): users over the limit are kept waiting"
        )
    assert not left, f"kernels left after the storm (a refused launch left one?): {left}"
    races = []
    if other:
        races.append(
            f"round {round_no}: {len(other)} starts answered {other[0][0]} "
            f"({clip(other[0][2], 160)})"
        )
    if len(accepted) < limit:
        races.append(f"round {round_no}: only {len(accepted)} of {limit} allowed kernels started")
    unexpected = [r for r in other if r[0] != "HTTP 500"]
    assert not unexpected, f"starts failed other than with 403 or the known 500: {unexpected}"
    return races


def test_per_user_limit_refuses_only_that_user(target, run_state):
    """EG_MAX_KERNELS_PER_USER: a user at the limit is refused, another user is not."""
    limits = require(target, KernelLimits, "the per-user limit needs its own gateway")
    with limits.limited_gateway(per_user=1) as endpoint:
        alice = endpoint.client(username="egh-limit-alice")
        bob = endpoint.client(username="egh-limit-bob")
        try:
            alice.start_kernel(endpoint.kernelspec)
            t0 = time.monotonic()
            try:
                alice.start_kernel(endpoint.kernelspec)
                second = "accepted"
            except GatewayHTTPError as exc:
                second = f"HTTP {exc.status}: {clip(exc.server_message, 120)}"
            refused_after = time.monotonic() - t0
            try:
                bob.start_kernel(endpoint.kernelspec)
                other_user = "accepted"
            except GatewayHTTPError as exc:
                other_user = f"HTTP {exc.status}: {clip(exc.server_message, 120)}"
        finally:
            failed = alice.cleanup() + bob.cleanup()
            alice.close()
            bob.close()
    run_state.table_row(
        "Per-user kernel limit (EG_MAX_KERNELS_PER_USER=1)",
        ["user's second kernel", "answered after (s)", "another user's first kernel"],
        [second, round(refused_after, 3), other_user],
    )
    assert second.startswith("HTTP 403"), f"a user over the per-user limit got: {second}"
    assert other_user == "accepted", f"another user was refused: {other_user}"
    assert not failed, f"kernels could not be shut down: {failed}"
