"""Benchmark: where a flood of small outputs is lost, measured on every reader at once.

A kernel printing 10,000 separately flushed lines is read three ways in one run: a raw ZMQ
subscriber on the kernel's own IOPub port (what the kernel published; it takes no CPU while the
flood runs: libzmq's I/O thread queues everything, RCVHWM unlimited, and Python reads it after),
a raw WebSocket client at a hop (frames kept as they come, decoded after: the least a client
can do), and the harness's own `KernelChannels`. The floods run one reader at a time on the
same kernel, each paced at a ladder of rates (0 = as fast as the kernel prints), so the figures
say how fast each hop relays while it keeps up, where it stops keeping up and how many outputs
each reader lost, and whether the harness's client loses any the raw client does not.

EG 3.3's gateway loop changes once any kernel has been remote-launched (its ResponseManager
polls a listening socket with a blocking accept on every turn of the loop); every Kubernetes
kernel is remote-launched, so the bench measures the gateway before and after one such launch.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import websocket
import zmq
from eg_harness.checks import backlog
from eg_harness.checks.sequence import breaks
from eg_harness.clients.gateway import GatewayClient
from eg_harness.clients.hub import HubClient
from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import ReplyTimeout
from eg_harness.kernel.framing import LEGACY, V1, codec
from eg_harness.load import cpu
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.abilities import ProcessView
from eg_harness.targets.base import Target

DELIM = b"<IDS|MSG>"
QUIET_S = 15.0  # a reader that got nothing for this long after the kernel's idle: it is over
REMOTE_SPEC = "python3_launcher"  # a kernel started through EG's remote-launch protocol

# The kernel's side of a flood: `n` lines, each flushed on its own (a stream message each),
# paced at `rate` lines a second when rate > 0.
FLOOD = """import time as _t
_n, _rate = {n}, {rate}
_t0 = _t.perf_counter()
for _i in range(_n):
    if _rate:
        _d = _t0 + _i / _rate - _t.perf_counter()
        if _d > 0:
            _t.sleep(_d)
    print(_i, flush=True)
"""


@dataclass
class Flood:
    """One flood as one reader saw it, beside what the kernel published."""

    hop: str
    gateway_state: str  # "no remote launch yet" or "after a remote launch"
    reader: str  # "raw websocket" or "harness"
    protocol: str
    rate_asked: int  # lines/s the kernel was paced at; 0 = as fast as it prints
    outputs: int
    published: int  # lines the raw ZMQ subscriber saw the kernel publish
    kernel_rate: float  # lines/s the kernel published at (its own header.date stamps)
    arrived: int  # lines this reader received
    first_missing: int | None  # the first line that never arrived
    relay_rate: float  # lines/s this reader received them at (first to last arrival)
    behind_s: float  # how long after the kernel's last output its last arrival came
    gateway_cores: float | None  # the gateway's CPU while the flood ran, in cores
    idle_arrived: bool  # the request's idle status reached the reader
    wall_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Lines that never reached this reader (against the lines asked for: under a heavy
        load even the passive tap can miss some, and says so in `notes`)."""
        return self.outputs - self.arrived


# -- the kernel's own IOPub ----------------------------------------------------------------------
class IopubTap:
    """A raw SUB socket on a kernel's IOPub port, passive while a flood runs.

    RCVHWM 0 (no limit): libzmq's I/O thread takes every message off the wire into this
    socket's queue without Python, so the tap never slows the flood, and the PUB side's queue
    for it never fills. Messages are parsed after the flood."""

    def __init__(self, connection_file: Path) -> None:
        info = json.loads(connection_file.read_text())
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        transport = info.get("transport", "tcp")
        self.sock.connect(f"{transport}://{info['ip']}:{info['iopub_port']}")

    def drain(self, timeout: float) -> list[dict[str, Any]]:
        """Every message queued so far (headers, parents, contents), waiting at most `timeout`
        for the first one."""
        out = []
        wait_ms = int(timeout * 1000)
        while self.sock.poll(wait_ms):
            parts = self.sock.recv_multipart()
            wait_ms = 0
            if DELIM not in parts:
                continue
            i = parts.index(DELIM)
            header, parent, _meta, content = (json.loads(p) for p in parts[i + 2 : i + 6])
            out.append({"header": header, "parent_header": parent, "content": content})
        return out

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def _lines(msgs: list[dict[str, Any]], msg_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(line, message that completed it) for every stdout line answering `msg_id`, in arrival
    order. A line may span messages: ipykernel's own flush timer can send "123" and "\n" apart."""
    out, part = [], ""
    for msg in msgs:
        if m.parent_id(msg) != msg_id or m.msg_type(msg) != "stream":
            continue
        *done, part = (part + msg["content"].get("text", "")).split("\n")
        out += [(line, msg) for line in done]
    return out


def _idle(msgs: list[dict[str, Any]], msg_id: str) -> bool:
    return any(
        m.msg_type(x) == "status"
        and m.parent_id(x) == msg_id
        and x["content"].get("execution_state") == "idle"
        for x in msgs
    )


# -- readers -------------------------------------------------------------------------------------
def raw_flood(
    client: GatewayClient, kernel_id: str, protocol: str, code: str, timeout: float
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, float]]:
    """The least a WebSocket client can do: send, keep every frame with its arrival time, stop
    at the request's idle (a cheap byte test; decoded only to confirm) or a silence; decode
    after. Returns (request, messages, arrival per msg_id)."""
    ws = websocket.create_connection(
        client.ws_url(kernel_id),
        header=client.ws_headers(),
        subprotocols=[V1] if protocol == V1 else None,
        timeout=timeout,
    )
    try:
        chosen = ws.getsubprotocol() or LEGACY
        encode, decode = codec(chosen)
        session = uuid.uuid4().hex
        req = m.execute_request(code, session=session)
        msg_id = req["header"]["msg_id"]
        key = msg_id.encode()
        payload, binary = encode(req)
        ws.send_binary(payload) if binary else ws.send(payload)
        frames: list[tuple[bytes | str, float]] = []
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < min(deadline, last + QUIET_S):
            # Control frames return too: EG pings every few seconds, and a read that swallowed
            # them would restart its timeout on each ping and never see the silence.
            ws.settimeout(max(0.001, last + QUIET_S - time.monotonic()))
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                break
            if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                continue
            last = time.monotonic()
            if opcode == websocket.ABNF.OPCODE_TEXT:
                data = data.decode("utf-8")
            frames.append((data, time.time()))
            raw = data.encode() if isinstance(data, str) else data
            if key in raw and b"idle" in raw:
                msg = decode(data)
                if m.is_idle_for({**msg, "channel": msg.get("channel", "iopub")}, req):
                    break
    finally:
        ws.close(timeout=2)
    msgs, arrivals = [], {}
    for data, at in frames:
        msg = decode(data)
        msgs.append(msg)
        arrivals[msg["header"].get("msg_id", "")] = at
    return req, msgs, arrivals


def harness_flood(
    client: GatewayClient, kernel_id: str, protocol: str, code: str, timeout: float
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, float]]:
    """The same flood through the harness's own client, as the scenario reads it."""
    with client.channels(
        kernel_id, subprotocols=[V1] if protocol == V1 else [], connect_timeout=timeout
    ) as chans:
        chans.wait_ready(timeout)
        req = m.execute_request(code, session=chans.session)
        req["header"]["username"] = chans.username
        with contextlib.suppress(ReplyTimeout):
            chans.request(req, timeout, quiet_limit=QUIET_S)
        return req, list(chans.received), dict(chans.arrivals)


READERS: dict[str, Callable] = {"raw websocket": raw_flood, "harness": harness_flood}


# -- one flood -----------------------------------------------------------------------------------
def flood(
    hop: str,
    state: str,
    client: GatewayClient,
    kernel_id: str,
    tap: IopubTap,
    reader: str,
    protocol: str,
    n: int,
    rate: int,
    gateway_pid: int | None,
) -> Flood:
    """One paced flood read by one reader, judged against the kernel's own IOPub."""
    tap.drain(0)  # anything left from before
    code = FLOOD.format(n=n, rate=rate)
    # Bounded even for a hop that relays 50 lines a second (EG's held loop, measured: ~100/s).
    timeout = max(120.0, n / 50, 3 * n / rate if rate else 0.0)
    busy = cpu.ProcessCpu({"gateway": gateway_pid})
    t0 = time.monotonic()
    req, msgs, arrivals = READERS[reader](client, kernel_id, protocol, code, timeout)
    wall = time.monotonic() - t0
    # The gateway's cores up to the last arrival, not over a reader's closing silence.
    last_seen = max(arrivals.values(), default=time.time())
    cores = busy.cores(time.monotonic() - (time.time() - last_seen)).get("gateway")
    msg_id = req["header"]["msg_id"]
    published = tap.drain(5.0)
    wait_for(
        "the kernel's idle status on its own IOPub",
        lambda: _idle(published, msg_id) or published.extend(tap.drain(0.5)) or False,
        timeout,
    )
    pub_lines = _lines(published, msg_id)
    got = _lines(msgs, msg_id)
    numbers = [line for line, _ in got]
    notes = []
    broke = breaks(numbers, n)
    first_missing = None
    if broke:
        seen = {int(x) for x in numbers if x.isdigit()}
        first_missing = next((i for i in range(n) if i not in seen), None)
    stamps = [backlog.stamp(msg) or 0.0 for _, msg in pub_lines[:1] + pub_lines[-1:]]
    k_first, k_last = stamps if stamps else (0.0, 0.0)
    kernel_rate = len(pub_lines) / max(k_last - k_first, 1e-3) if pub_lines else 0.0
    arrived_at = [arrivals.get(msg["header"].get("msg_id", ""), float("nan")) for _, msg in got]
    arrived_at = [a for a in arrived_at if a == a]
    relay = len(got) / max(arrived_at[-1] - arrived_at[0], 1e-3) if len(arrived_at) > 1 else 0.0
    behind = (arrived_at[-1] - k_last) if arrived_at and pub_lines else float("nan")
    if len(pub_lines) != n:
        notes.append(f"the kernel's own IOPub carried {len(pub_lines)} of {n} lines")
    return Flood(
        hop=hop,
        gateway_state=state,
        reader=reader,
        protocol="v1" if protocol == V1 else "legacy",
        rate_asked=rate,
        outputs=n,
        published=len(pub_lines),
        kernel_rate=round(kernel_rate, 1),
        arrived=len(got),
        first_missing=first_missing,
        relay_rate=round(relay, 1),
        behind_s=round(behind, 2),
        gateway_cores=cores,
        idle_arrived=_idle(msgs, msg_id),
        wall_s=round(wall, 2),
        notes=notes,
    )


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Settings:
    outputs: int = 10_000
    rates: tuple[int, ...] = (0, 2000, 1000, 500)
    readers: tuple[str, ...] = ("raw websocket", "harness")
    protocols: tuple[str, ...] = (LEGACY, V1)
    hub: bool = True
    remote_launch: bool = True
    # After a remote launch EG 3.3 relays tens of lines a second (its loop waits 5 ms a turn):
    # a smaller flood at slower paces measures it in minutes, not the better part of an hour.
    held_outputs: int = 3_000
    held_rates: tuple[int, ...] = (0, 200, 100)


def _connection_file(target: Target, kernel_id: str) -> Path:
    view = target.ability(ProcessView)
    if view is None:
        raise RuntimeError("bench-flood needs a target whose kernels are local processes")
    pid = wait_for(f"kernel {kernel_id}'s process", lambda: view.kernel_pid(kernel_id), 30)
    for arg in psutil.Process(pid).cmdline():
        if arg.endswith(f"kernel-{kernel_id}.json"):
            return Path(arg)
    raise RuntimeError(f"kernel {kernel_id}'s command line names no connection file")


@contextlib.contextmanager
def _kernel_with_tap(target: Target, client: GatewayClient) -> Iterator[tuple[str, IopubTap]]:
    kernel_id = client.start_kernel(target.gateway.kernelspec)["id"]
    tap = None
    try:
        tap = IopubTap(_connection_file(target, kernel_id))
        with client.channels(kernel_id, subprotocols=[]) as chans:
            chans.wait_ready(client.launch_timeout)
            # ZMQ's slow joiner: the tap is subscribed once it sees an answer to a request.
            req = chans.execute("1").request
            got: list[dict[str, Any]] = []
            wait_for(
                "the IOPub tap to receive",
                lambda: _idle(got, req["header"]["msg_id"]) or got.extend(tap.drain(0.5)),
                30,
            )
        yield kernel_id, tap
    finally:
        if tap is not None:
            tap.close()
        client.shutdown_quietly(kernel_id)


@contextlib.contextmanager
def _hub_client(target: Target, progress) -> Iterator[GatewayClient | None]:
    """A spawned user server of a throw-away hub user (the hub hop), removed on exit."""
    if target.hub is None:
        yield None
        return
    hub = HubClient(target.hub.url, target.hub.api_token)
    name = f"{target.hub.user_prefix}flood-{uuid.uuid4().hex[:8]}"
    hub.create_user(name)
    try:
        progress(f"spawning {name}'s user server (the hub hop)")
        options = dict(target.hub.user_options)
        options.pop("profile", None)
        hub.spawn(name, target.hub.profile, options, timeout=target.hub.spawn_timeout)
        server = hub.user_server(name, hub.create_token(name))
        with contextlib.suppress(Exception):  # as a browser does first (hub_users.py)
            server.request("GET", "/api/kernelspecs", timeout=30)
        try:
            yield server
        finally:
            server.cleanup()
            server.close()
    finally:
        hub.remove_user(name)
        hub.close()


def run(target: Target, settings: Settings, progress=print) -> list[Flood]:
    """Every hop x gateway state x protocol x reader x rate; the target is provisioned."""
    gw = GatewayClient(target.gateway.url, target.gateway.token)
    view = target.ability(ProcessView)
    gateway_pid = view.gateway_pid() if view is not None else None
    results: list[Flood] = []
    states = ["no remote launch yet"]
    if settings.remote_launch:
        states.append("after a remote launch")
    remote: str | None = None
    try:
        with _hub_client(target, progress) if settings.hub else contextlib.nullcontext() as hub:
            hops = [("gateway", gw)] + ([("hub", hub)] if hub is not None else [])
            for state in states:
                if state == "after a remote launch":
                    progress(f"starting a {REMOTE_SPEC} kernel (EG's remote-launch protocol)")
                    remote = gw.start_kernel(REMOTE_SPEC)["id"]
                held = state == "after a remote launch"
                n = settings.held_outputs if held else settings.outputs
                for hop, client in hops:
                    with _kernel_with_tap(target, client) as (kernel_id, tap):
                        # The hub hop speaks legacy whatever is offered (the seed forces
                        # the user servers to it): a v1 offer there measures legacy again.
                        protocols = [p for p in settings.protocols if hop != "hub" or p != V1]
                        for protocol in protocols or [LEGACY]:
                            for rate in settings.held_rates if held else settings.rates:
                                for reader in settings.readers:
                                    try:
                                        f = flood(
                                            hop,
                                            state,
                                            client,
                                            kernel_id,
                                            tap,
                                            reader,
                                            protocol,
                                            n,
                                            rate,
                                            gateway_pid,
                                        )
                                    except Exception as exc:  # noqa: BLE001 - one flood's failure is a figure, not the end of the bench
                                        progress(
                                            f"{hop} ({state}) {reader}, {rate}/s: failed: "
                                            f"{type(exc).__name__}: {exc}"
                                        )
                                        continue
                                    progress(describe(f))
                                    results.append(f)
    finally:
        if remote is not None:
            gw.shutdown_quietly(remote)
        gw.close()
    return results


def describe(f: Flood) -> str:
    rate = "unpaced" if not f.rate_asked else f"{f.rate_asked}/s"
    lost = f"lost {f.lost} from #{f.first_missing}" if f.lost else "none lost"
    tap = "" if f.published == f.outputs else f" of {f.outputs} (the tap missed some)"
    return (
        f"{f.hop} ({f.gateway_state}) {f.protocol} {f.reader}, {rate}: kernel "
        f"{f.published}{tap} at {f.kernel_rate:.0f}/s, "
        f"arrived {f.arrived} at {f.relay_rate:.0f}/s, "
        f"{lost}, last {f.behind_s:.1f}s after the kernel's, gateway "
        f"{'-' if f.gateway_cores is None else f'{f.gateway_cores:.2f}'} cores"
    )


def sustainable(floods: list[Flood]) -> list[dict[str, Any]]:
    """Per hop, state, protocol and reader: the fastest paced rate with nothing lost, the
    slowest with a loss, and the relay rate while the kernel out-printed the hop."""
    groups: dict[tuple, list[Flood]] = {}
    for f in floods:
        groups.setdefault((f.hop, f.gateway_state, f.protocol, f.reader), []).append(f)
    out = []
    for (hop, state, protocol, reader), fs in groups.items():
        clean = [f.rate_asked for f in fs if f.rate_asked and not f.lost]
        lossy = [f.rate_asked or f.kernel_rate for f in fs if f.lost]
        saturated = [f.relay_rate for f in fs if f.relay_rate < 0.9 * f.kernel_rate]
        out.append(
            {
                "hop": hop,
                "gateway_state": state,
                "protocol": protocol,
                "reader": reader,
                "no_loss_up_to": max(clean) if clean else None,
                "loss_from": min(lossy) if lossy else None,
                "relay_rate_saturated": round(statistics.median(saturated), 1)
                if saturated
                else None,
                "lost_unpaced": next((f.lost for f in fs if not f.rate_asked), None),
                "first_missing_unpaced": next(
                    (f.first_missing for f in fs if not f.rate_asked), None
                ),
            }
        )
    return out


def document(floods: list[Flood], machine: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": "eg-harness-bench-flood/1",
        "machine": machine,
        "floods": [{**asdict(f), "lost": f.lost} for f in floods],
        "sustainable": sustainable(floods),
    }


def print_report(doc: dict[str, Any]) -> None:
    mc = doc["machine"]
    print(
        f"\nmachine: {mc['cores']} cores, load average {mc['load_before']} before and "
        f"{mc['load_after']} after, {mc['date']}"
    )
    cols = ("hop", "gateway", "protocol", "reader", "no loss up to", "loss from", "saturated")
    print(
        f"{cols[0]:8} {cols[1]:22} {cols[2]:26} {cols[3]:14} {cols[4]:>13} {cols[5]:>10} "
        f"{cols[6]:>10}"
    )
    for s in doc["sustainable"]:
        print(
            f"{s['hop']:8} {s['gateway_state']:22} {s['protocol']:26} {s['reader']:14} "
            f"{_rate(s['no_loss_up_to']):>13} {_rate(s['loss_from']):>10} "
            f"{_rate(s['relay_rate_saturated']):>10}"
        )
    print(
        "\nno loss up to: the fastest paced flood every output of which arrived; loss from: the "
        "slowest that lost some; saturated: lines/s the reader received while the kernel "
        "printed faster (the hop's relay rate)"
    )


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}/s"
