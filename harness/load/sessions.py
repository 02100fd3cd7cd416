"""Many concurrent kernel sessions from one process: `eg-harness bench-ws --sessions N`.

What a class of students looks like to a gateway is not kernel starts but open notebooks: one
WebSocket per browser tab, idle most of the time, executing a cell now and then. This holds N
such sessions from one asyncio process (eg_harness.kernel.aio), spread over as many kernels as asked
(several sessions per kernel, as tabs share a kernel) and over one or more gateways, each
session executing every `period_s` at its own phase, and measures every execute's latency.

The figures carry their own yardstick: before the load, one session alone on the same gateway
times the same execute (the single-session baseline), so the result is a ratio measured in the
same run on the same machine. The generator's honesty is measured, not assumed: its CPU over
the load window (it runs on one core: one thread, pinned) and its event loop's lag. A generator
that was busy or starved inflates every latency it measures, so such a run is marked invalid
(exit 4), like a bench whose locust was the bottleneck.

Where a gateway stops accepting sessions, the first failure is kept with the count it held and
the cause, and the run goes on with what it holds: that is a finding about the gateway, and
the generator's capacity is shown separately by spreading the sessions over several gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import psutil
from eg_harness.clients.gateway import GatewayClient
from eg_harness.kernel.aio import AioChannels, AioChannelsError
from eg_harness.load.cpu import GENERATOR_BUSY_LIMIT
from eg_harness.report.bench_results import Sessions
from eg_harness.runtime.text import clip
from eg_harness.stats.percentiles import percentile
from eg_harness.targets.endpoints import GatewayEndpoint

CODE = "1"  # a cell with a result: reply, busy, execute_input, execute_result, idle
LAG_TICK_S = 0.05  # how often the loop-lag probe asks to be woken
LAG_LIMIT_FRACTION = 0.5  # loop lag p95 above this fraction of the median latency: starved
KERNEL_ATTEMPTS = 3  # a kernel that never answers is replaced at most twice
KERNEL_READY_S = 60.0
IDLE_GRACE_S = 5.0  # an opening reply's idle status not come this long after it: missed
BROKEN_AFTER = 3  # consecutive failed session opens on a gateway: it stopped accepting
STARVE_BUSY_S = 0.9  # --starve-generator: the loop is blocked this long ...
STARVE_EVERY_S = 1.0  # ... out of every this long (a lag no gateway latency hides)


@dataclass
class SessionsSettings:
    sessions: int = 1000
    per_kernel: int = 10  # sessions sharing one kernel (tabs on one notebook's kernel)
    period_s: float = 10.0  # each session executes once per period, at its own phase
    duration_s: float = 60.0  # the load window, after every session is open
    baseline_executes: int = 40
    gateways: int = 1
    kernelspec: str = "python3"
    connect_concurrency: int = 50
    start_concurrency: int = 2
    exec_timeout_s: float = 60.0
    pin_core: bool = True
    starve_generator: bool = False  # the negative twin: a generator that cannot keep up

    @property
    def kernels(self) -> int:
        return max(1, math.ceil(self.sessions / max(self.per_kernel, 1)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"kernels": self.kernels}


# -- the maths (pure; unit-tested) --------------------------------------------------------------
def pcts(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (None when nothing was measured) and the count."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "count": 0}
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 3),
        "p95_ms": round(percentile(values, 95) * 1000, 3),
        "p99_ms": round(percentile(values, 99) * 1000, 3),
        "max_ms": round(max(values) * 1000, 3),
        "count": len(values),
    }


def ratios(load: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    """Under load / alone, per percentile: how much the gateway slowed down per session."""
    out: dict[str, float | None] = {}
    for key in ("p50_ms", "p95_ms", "p99_ms"):
        a, b = load.get(key), base.get(key)
        out[key.removesuffix("_ms")] = round(a / b, 3) if a is not None and b else None
    return out


def generator_verdict(cores: float, lag_p95_s: float | None, load_p50_s: float | None) -> dict:
    """Whether the latencies describe the gateway or the generator.

    Busy: the loop kept its core busy (single-threaded, like a locust process) - above
    GENERATOR_BUSY_LIMIT it was the bottleneck. Starved: its loop woke late (lag) by at least
    half of the median latency it measured, so that much of each figure may be its own delay.
    """
    reasons = []
    if cores >= GENERATOR_BUSY_LIMIT:
        reasons.append(f"the generator used {cores:.2f} cores (limit {GENERATOR_BUSY_LIMIT})")
    if lag_p95_s is not None and load_p50_s and lag_p95_s >= LAG_LIMIT_FRACTION * load_p50_s:
        reasons.append(
            f"its event loop woke {lag_p95_s * 1000:.1f} ms late (p95), at least "
            f"{LAG_LIMIT_FRACTION:.0%} of the median latency it measured "
            f"({load_p50_s * 1000:.1f} ms)"
        )
    return {
        "cores": round(cores, 3),
        "limit_cores": GENERATOR_BUSY_LIMIT,
        "loop_lag_p95_ms": None if lag_p95_s is None else round(lag_p95_s * 1000, 3),
        "lag_limit_fraction": LAG_LIMIT_FRACTION,
        "valid": not reasons,
        "reasons": reasons,
    }


def gateway_for(kernel_index: int, gateways: int) -> int:
    return kernel_index % gateways


# -- the run ----------------------------------------------------------------------------------
@dataclass
class _Session:
    index: int
    kernel: int
    gateway: int
    chans: AioChannels | None = None
    error: str | None = None


@dataclass
class _Gateway:
    endpoint: GatewayEndpoint
    client: GatewayClient
    kernels: list[str] = field(default_factory=list)
    held: int = 0
    broke: dict[str, Any] | None = None  # the first failure: count held, what failed, why
    failed_in_a_row: int = 0
    first_failure: dict[str, Any] | None = None  # of the current run of failures


class _LoopLag:
    """Asks to be woken every LAG_TICK_S; how late it wakes is what every session suffers."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_TICK_S
            await asyncio.sleep(LAG_TICK_S)
            self.lags.append(max(loop.time() - due, 0.0))

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def _starve() -> None:
    """The negative twin's generator: its loop is blocked most of the time, as on a machine
    whose generator gets too little CPU. Deliberately blocking (no await while busy)."""
    while True:
        end = time.perf_counter() + STARVE_BUSY_S
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(STARVE_EVERY_S - STARVE_BUSY_S)


class SessionsBench:
    def __init__(self, endpoints: list[GatewayEndpoint], settings: SessionsSettings, progress):
        self.settings = settings
        self.progress = progress
        self.gws = [
            _Gateway(e, GatewayClient(e.url, e.token, launch_timeout=e.launch_timeout))
            for e in endpoints
        ]
        self.sessions: list[_Session] = []
        self.kernel_ids: list[str | None] = []
        self.dead_kernels: set[int] = set()
        self.latencies: list[float] = []
        self.idle_latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.error_examples: dict[str, str] = {}
        self.replaced: list[dict[str, str]] = []  # kernels that never answered, replaced
        # Held sessions whose opening idle status had not come IDLE_GRACE_S after the reply.
        self.first_idle_missed = 0
        self.timeline: list[dict[str, Any]] = []  # per second: sessions held, executes, p95
        self.window: tuple[float, float] | None = None
        self.t0 = time.time()

    def _err(self, kind: str, text: str) -> None:
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, clip(text, 300))

    # ---- kernels ---------------------------------------------------------------------------
    async def _start_kernels(self, http: aiohttp.ClientSession) -> None:
        n = self.settings.kernels
        self.kernel_ids = [None] * n
        sem = asyncio.Semaphore(self.settings.start_concurrency)

        async def one(i: int) -> None:
            gw = self.gws[gateway_for(i, len(self.gws))]
            for _attempt in range(KERNEL_ATTEMPTS):
                if gw.broke:
                    return
                async with sem:
                    kid = await self._start_one(http, gw)
                if kid:
                    self.kernel_ids[i] = kid
                    gw.kernels.append(kid)
                    done = sum(1 for k in self.kernel_ids if k)
                    if done % 10 == 0 or done == n:
                        self.progress(f"kernels started: {done}/{n}")
                    return

        await asyncio.gather(*(one(i) for i in range(n)))

    async def _start_one(self, http: aiohttp.ClientSession, gw: _Gateway) -> str | None:
        """A kernel that answered kernel_info, or None. EG answers 201 before the kernel is
        up, and a local kernel can die binding a port another took first (the port race
        docs/performance.md describes): such a kernel is deleted and started again, not given
        sessions."""
        try:
            model = await asyncio.to_thread(gw.client.start_kernel, self.settings.kernelspec)
        except Exception as exc:
            self._err("kernel start", f"{type(exc).__name__}: {exc}")
            gw.broke = gw.broke or {
                "at": f"kernel {len(gw.kernels) + 1}",
                "sessions_held": gw.held,
                "kernels": len(gw.kernels),
                "cause": clip(f"{type(exc).__name__}: {exc}", 300),
            }
            return None
        kid = model["id"]
        headers = dict(h.split(": ", 1) for h in gw.client.ws_headers())
        try:
            chans = await AioChannels.connect(http, gw.client.ws_url(kid), headers)
            try:
                await chans.kernel_info(KERNEL_READY_S)
            finally:
                await chans.close()
        except AioChannelsError as exc:
            # Not counted among the errors yet: whether this is a known defect is read from the
            # gateway's log after the run (bench_sessions.explain_replaced).
            self.replaced.append(
                {"kernel_id": kid, "gateway": gw.endpoint.url, "cause": clip(str(exc), 300)}
            )
            await asyncio.to_thread(gw.client.shutdown_quietly, kid)
            return None
        return kid

    # ---- sessions --------------------------------------------------------------------------
    async def _open(self, http: aiohttp.ClientSession, s: _Session) -> None:
        gw = self.gws[s.gateway]
        kid = self.kernel_ids[s.kernel]
        if kid is None or gw.broke or s.kernel in self.dead_kernels:
            s.error = "no kernel" if kid is None else "gateway or kernel already failed"
            return
        headers = dict(h.split(": ", 1) for h in gw.client.ws_headers())
        try:
            s.chans = await AioChannels.connect(http, gw.client.ws_url(kid), headers)
            # A session counts as held when the kernel answered through it: the reply, not its
            # idle status. jupyter_server 1.24 skips its iopub nudge for a kernel that is busy
            # (here, answering the sessions opening beside this one), so a new socket's iopub
            # subscription can miss the first request's idle; its executes prove iopub later.
            t = await s.chans.kernel_info(self.settings.exec_timeout_s, idle_grace=IDLE_GRACE_S)
            if t.status != "ok":
                raise AioChannelsError(f"kernel_info status {t.status!r}")
            if t.idle_s is None:
                self.first_idle_missed += 1
        except AioChannelsError as exc:
            s.error = str(exc)
            self._err("session open", str(exc))
            if s.chans is not None:
                with contextlib.suppress(Exception):
                    await s.chans.close()
                s.chans = None
            # One failure may be one kernel's death; several in a row is the gateway refusing.
            self.dead_kernels.add(s.kernel)
            gw.failed_in_a_row += 1
            gw.first_failure = gw.first_failure or {
                "at": f"session {gw.held + 1}",
                "sessions_held": gw.held,
                "kernels": len(gw.kernels),
                "cause": clip(str(exc), 300),
            }
            if gw.failed_in_a_row >= BROKEN_AFTER:
                gw.broke = gw.broke or gw.first_failure
            return
        gw.held += 1
        gw.failed_in_a_row = 0
        gw.first_failure = None

    async def _open_all(self, http: aiohttp.ClientSession) -> None:
        n, k = self.settings.sessions, self.settings.kernels
        self.sessions = [_Session(i, i % k, gateway_for(i % k, len(self.gws))) for i in range(n)]
        batch = max(self.settings.connect_concurrency, 1)
        for lo in range(0, n, batch):
            await asyncio.gather(*(self._open(http, s) for s in self.sessions[lo : lo + batch]))
            held = sum(g.held for g in self.gws)
            if (lo // batch) % 4 == 3 or lo + batch >= n:
                self.progress(f"sessions open: {held}/{min(lo + batch, n)} tried")
            if all(g.broke for g in self.gws):
                break

    # ---- load --------------------------------------------------------------------------------
    async def _session_loop(self, s: _Session, stop_at: float) -> None:
        assert s.chans is not None
        period = self.settings.period_s
        loop = asyncio.get_running_loop()
        due = loop.time() + random.uniform(0, period)  # every session its own phase
        while due < stop_at:
            await asyncio.sleep(max(due - loop.time(), 0))
            try:
                t = await s.chans.execute(CODE, self.settings.exec_timeout_s)
            except AioChannelsError as exc:
                self._err("execute", str(exc))
                if s.chans.closed_because:
                    s.error = s.chans.closed_because
                    return
            else:
                if t.status != "ok":
                    self._err("execute status", f"status {t.status!r}")
                self.latencies.append(t.reply_s or 0.0)
                self.idle_latencies.append(t.idle_s or 0.0)
            due += period

    async def _tick(self, stop_at: float) -> None:
        """A line of the timeline per second: sessions alive, executes done, errors."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        last = 0
        while loop.time() < stop_at:
            await asyncio.sleep(1.0)
            done = len(self.latencies)
            alive = sum(1 for s in self.sessions if s.chans and not s.chans.closed_because)
            recent = self.latencies[last:done]
            self.timeline.append(
                {
                    "t": round(time.time() - self.t0, 3),
                    "sessions": alive,
                    "executes": done - last,
                    "p95_ms": round(percentile(recent, 95) * 1000, 3) if recent else None,
                    "errors": sum(self.errors.values()),
                }
            )
            last = done
            if int(loop.time() - start) % 10 == 0:
                errs = sum(self.errors.values())
                self.progress(f"load: {alive} sessions alive, {done} executes, {errs} errors")

    async def _baseline(self, http: aiohttp.ClientSession) -> list[float]:
        """One session alone, on the first kernel of the first gateway, before any load."""
        gw = self.gws[0]
        kid = self.kernel_ids[0]
        if kid is None:
            return []
        headers = dict(h.split(": ", 1) for h in gw.client.ws_headers())
        chans = await AioChannels.connect(http, gw.client.ws_url(kid), headers)
        try:
            await chans.kernel_info(self.settings.exec_timeout_s)
            await chans.execute(CODE, self.settings.exec_timeout_s)  # warm
            out = []
            for _ in range(self.settings.baseline_executes):
                t = await chans.execute(CODE, self.settings.exec_timeout_s)
                out.append(t.reply_s or 0.0)
            return out
        finally:
            await chans.close()

    async def run(self) -> Sessions:
        st = self.settings
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            try:
                self.progress(
                    f"starting {st.kernels} kernels on {len(self.gws)} gateway(s) "
                    f"({st.start_concurrency} at a time)"
                )
                await self._start_kernels(http)
                self.progress(f"baseline: {st.baseline_executes} executes from one session")
                baseline = await self._baseline(http)
                self.progress(f"opening {st.sessions} sessions ({st.connect_concurrency} at once)")
                await self._open_all(http)
                held = [s for s in self.sessions if s.chans is not None]
                self.progress(
                    f"load: {len(held)} sessions executing every {st.period_s:g}s "
                    f"for {st.duration_s:g}s"
                )
                loop = asyncio.get_running_loop()
                lag = _LoopLag()
                starver = loop.create_task(_starve()) if st.starve_generator else None
                affinity = _affinity()
                pinned = _pin_one_core(affinity) if st.pin_core and affinity else None
                # The loop's own thread: the server sampler's thread is not the generator.
                cpu0, wall0 = time.thread_time(), time.monotonic()
                w0 = time.time()
                lag.start()
                stop_at = loop.time() + st.duration_s
                await asyncio.gather(
                    self._tick(stop_at), *(self._session_loop(s, stop_at) for s in held)
                )
                lag.stop()
                cpu1, wall1 = time.thread_time(), time.monotonic()
                self.window = (w0, time.time())
                if starver:
                    starver.cancel()
                if pinned is not None:
                    with contextlib.suppress(OSError):
                        os.sched_setaffinity(0, affinity)
                alive_end = sum(1 for s in held if s.chans and not s.chans.closed_because)
                frames = sum(s.chans.frames for s in held if s.chans)
                decoded = sum(s.chans.decoded for s in held if s.chans)
            finally:
                await asyncio.gather(
                    *(s.chans.close() for s in self.sessions if s.chans), return_exceptions=True
                )
        await asyncio.to_thread(self._delete_kernels)
        cores = (cpu1 - cpu0) / max(wall1 - wall0, 1e-6)
        load = pcts(self.latencies)
        base = pcts(baseline)
        lag_p95 = percentile(lag.lags, 95) if lag.lags else None
        load_p50 = percentile(self.latencies, 50) if self.latencies else None
        return Sessions.model_validate(
            {
                "settings": st.to_dict(),
                "t0_epoch": self.t0,
                "sessions_requested": st.sessions,
                "sessions_held": len(held),
                "sessions_alive_at_end": alive_end,
                "kernels_started": sum(1 for k in self.kernel_ids if k),
                "gateways": [
                    {
                        "url": g.endpoint.url,
                        "kernels": len(g.kernels),
                        "sessions_held": g.held,
                        "broke": g.broke,
                    }
                    for g in self.gws
                ],
                "baseline": base,
                "latency": load,
                "idle_latency": pcts(self.idle_latencies),
                "ratio": ratios(load, base),
                "executes": len(self.latencies),
                "executes_per_s": round(len(self.latencies) / max(wall1 - wall0, 1e-6), 3),
                "frames_received": frames,
                "frames_per_s": round(frames / max(wall1 - wall0, 1e-6), 1),
                "frames_decoded": decoded,
                "errors": dict(self.errors),
                "error_examples": self.error_examples,
                "kernels_replaced": self.replaced,
                "first_idle_missed": self.first_idle_missed,
                "generator": generator_verdict(cores, lag_p95, load_p50)
                | {"pinned_core": pinned, "cpu_s": round(cpu1 - cpu0, 3), "pid": os.getpid()},
                "window": {
                    "start_s": round(self.window[0] - self.t0, 3),
                    "end_s": round(self.window[1] - self.t0, 3),
                },
                "timeline": self.timeline,
            }
        )

    def _delete_kernels(self) -> None:
        """Every kernel deleted, the gateways side by side (EG deletes one at a time)."""

        def one(g: _Gateway) -> None:
            g.client.cleanup()
            g.client.close()

        with ThreadPoolExecutor(max_workers=len(self.gws)) as pool:
            list(pool.map(one, self.gws))


def _affinity() -> set[int] | None:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None


def _pin_one_core(allowed: set[int]) -> int | None:
    """Run the load's thread on one core (the least busy one), so '<= 1 core' is a fact."""
    busy = psutil.cpu_percent(interval=0.2, percpu=True)
    core = min(sorted(allowed), key=lambda c: busy[c] if c < len(busy) else 100.0)
    try:
        os.sched_setaffinity(0, {core})
    except OSError:
        return None
    return core


def run(endpoints: list[GatewayEndpoint], settings: SessionsSettings, progress=print) -> Sessions:
    bench = SessionsBench(endpoints, settings, progress)
    return asyncio.run(bench.run())
