"""What one simulated user does under load, phase by phase, each phase timed and reported.

Like hubtraf's user journeys, but through the gateway: every phase is an event (name, start,
seconds, ok, error kind), and `time_to_first_execute` (kernel requested -> first execute reply)
is reported as a phase of its own because it is what a user waits for. The same journeys run
inside locust users (eg_harness.load.locustfile) and in plain threads (the limits scenario).
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from eg_harness.clients.gateway import GatewayClient, GatewayHTTPError
from eg_harness.clients.hub import HubClient
from eg_harness.kernel.channels import ChannelsError
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip

GATEWAY_PHASES = ("start_kernel", "open_channels", "kernel_info", "execute", "shutdown")
TTFE = "time_to_first_execute"


@dataclass
class PhaseEvent:
    journey: str  # journey id, unique per run
    kind: str  # "gateway" | "hub"
    phase: str
    start: float  # epoch seconds
    seconds: float
    ok: bool
    error_kind: str | None = None
    error: str | None = None
    # The kernel the journey started (once it has one): lets a bench match a failed journey
    # to the gateway log's account of that kernel (logscan.died_in_port_race).
    kernel_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Emit = Callable[[PhaseEvent], None]


def error_kind(exc: BaseException) -> str:
    """A short, countable class of failure: what a report groups errors by."""
    if isinstance(exc, GatewayHTTPError):
        return f"HTTP {exc.status}" if exc.status else "spawn failed"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "connection"
    if isinstance(exc, ChannelsError):
        return "websocket"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class Journey:
    """Times phases of one journey and emits an event for each, failed ones included."""

    def __init__(self, kind: str, emit: Emit) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.kind = kind
        self.emit = emit
        self.t0: float | None = None
        self.kernel_id: str | None = None

    @contextlib.contextmanager
    def phase(self, name: str):
        start, t = time.time(), time.monotonic()
        try:
            yield
        except BaseException as exc:
            self.emit(
                PhaseEvent(
                    self.id,
                    self.kind,
                    name,
                    start,
                    time.monotonic() - t,
                    False,
                    error_kind(exc),
                    clip(redact(str(exc)), 300),
                    kernel_id=self.kernel_id,
                )
            )
            raise
        self.emit(
            PhaseEvent(
                self.id,
                self.kind,
                name,
                start,
                time.monotonic() - t,
                True,
                kernel_id=self.kernel_id,
            )
        )

    def mark_start(self) -> None:
        self.t0, self.t0_wall = time.monotonic(), time.time()

    def first_execute_done(self) -> None:
        assert self.t0 is not None
        self.emit(
            PhaseEvent(self.id, self.kind, TTFE, self.t0_wall, time.monotonic() - self.t0, True)
        )


def _kernel_phases(
    j: Journey,
    client: GatewayClient,
    kernelspec: str | None,
    env: dict[str, str] | None,
    code: str,
    timeout: float,
    notebook: Notebook | None = None,
) -> None:
    if j.t0 is None:  # a hub journey's user has waited since the spawn request
        j.mark_start()
    with j.phase("start_kernel"):
        model = client.start_kernel(kernelspec, env)
    kernel_id = j.kernel_id = model["id"]
    chans = None
    try:
        with j.phase("open_channels"):
            chans = client.channels(kernel_id, connect_timeout=timeout)
        with j.phase("kernel_info"):
            chans.wait_ready(timeout)
        with j.phase("execute"):
            res = chans.execute(code, timeout=timeout)
            if res.status != "ok":
                raise RuntimeError(f"execute failed: {res.describe_error()}")
        j.first_execute_done()
        if notebook is not None:
            notebook.run(j, chans, timeout)
    finally:
        if chans is not None:
            chans.close()
        with j.phase("shutdown"):
            client.delete_kernel(kernel_id)


class Notebook:
    """A user working in a notebook once the kernel answered its first execute (a workload
    file's `notebook:`): its cells, each after a think time, each a timed `cell` phase whose
    output must arrive whole; then idle with the kernel open, run the notebook again, or
    close, until the event's deadline (epoch seconds)."""

    def __init__(self, spec: dict[str, Any], deadline: float, rng: random.Random) -> None:
        self.cells = int(spec["cells"])
        self.code = spec["code"]
        self.output_bytes = int(spec.get("output_bytes") or 0)
        self.think = tuple(spec.get("think_s") or (0.0, 0.0))
        self.then = spec.get("then", "idle")
        self.deadline = deadline
        self.rng = rng

    def _pause(self, seconds: float) -> bool:
        """The user's own pause (not a wait for anything); False once the event is over."""
        left = self.deadline - time.time()
        if left <= 0:
            return False
        time.sleep(min(seconds, left))
        return time.time() < self.deadline

    def run(self, j: Journey, chans, timeout: float) -> None:
        while True:
            for _ in range(self.cells):
                if not self._pause(self.rng.uniform(*self.think)):
                    return
                with j.phase("cell"):
                    res = chans.execute(self.code, timeout=timeout)
                    if res.status != "ok":
                        raise RuntimeError(f"cell failed: {res.describe_error()}")
                    got = len(res.stdout.rstrip("\n"))
                    if got != self.output_bytes:
                        raise RuntimeError(f"cell output: {got} of {self.output_bytes} bytes")
            if self.then == "close":
                return
            if self.then == "idle":
                self._pause(self.deadline - time.time())
                return


def gateway_journey(
    client: GatewayClient,
    kernelspec: str | None,
    emit: Emit,
    *,
    env: dict[str, str] | None = None,
    code: str = "1+1",
    notebook: Notebook | None = None,
) -> str:
    """Start kernel -> open channels -> kernel_info -> execute -> [notebook] -> shut down."""
    j = Journey("gateway", emit)
    _kernel_phases(j, client, kernelspec, env, code, client.launch_timeout, notebook)
    return j.id


def hub_journey(
    hub: HubClient,
    *,
    prefix: str,
    profile: str | None,
    user_options: dict[str, Any],
    kernelspec: str | None,
    emit: Emit,
    spawn_timeout: float,
    launch_timeout: float,
    code: str = "1+1",
    notebook: Notebook | None = None,
) -> str:
    """Create user -> spawn a gateway-profile server -> start kernel -> execute -> [notebook]
    -> stop.

    Its time to first execute runs from the spawn request: at the start of a class, what a
    student waits for is the server and then the kernel, not the kernel alone."""
    j = Journey("hub", emit)
    name = f"{prefix}load-{j.id[:8]}"
    with j.phase("create_user"):
        hub.create_user(name)
    try:
        j.mark_start()
        with j.phase("spawn"):
            hub.spawn(name, profile, user_options, timeout=spawn_timeout)
        token = hub.create_token(name)
        server = hub.user_server(name, token, launch_timeout=launch_timeout)
        try:
            _kernel_phases(j, server, kernelspec, None, code, launch_timeout, notebook)
        finally:
            server.close()
        with j.phase("stop_server"):
            hub.stop_server(name, timeout=spawn_timeout)
    finally:
        with contextlib.suppress(Exception):
            hub.remove_user(name, timeout=spawn_timeout)
    return j.id
