"""Send one catalogue case to one layer and report what the server did (an Observation).

A layer is a base URL with its token and a live kernel of its own user: the gateway itself, or
a gateway-mode user server behind the hub's proxy. The same case goes to both unchanged, so a
difference between the two rows of the report is a difference between the hops.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import websocket
from eg_harness.abuse import wire
from eg_harness.abuse.catalogue import Case, Frame
from eg_harness.clients.gateway import GatewayClient
from eg_harness.kernel.channels import ChannelsError, ConnectionClosed, ReplyTimeout
from eg_harness.kernel.framing import V1, FramingError, encode_v1
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip
from eg_harness.runtime.waits import WaitTimeout, wait_for

# A refusal is milliseconds of work; the bound only separates a slow answer from none at all,
# on a loaded machine too.
BOUND_S = 30.0
# After a bad frame, the same socket must answer a kernel_info (or close) within this many of
# its own round trips measured just before, and never less than FOLLOW_UP_MIN_S.
FOLLOW_UP_ROUND_TRIPS = 50
FOLLOW_UP_MIN_S = 5.0
OFFERS = {"v1": [V1], "none": [], "bogus": ["v9.bogus.example.org"]}


@dataclass
class Layer:
    name: str  # "gateway" or "hub"
    client: GatewayClient  # its base URL and token
    kernel_id: str  # a live kernel of this layer's own user
    spec: str  # the kernelspec cases name as {spec}

    def fill(self, text: str) -> str:
        return (
            text.replace("{kernel}", self.kernel_id)
            .replace("{missing}", str(uuid.UUID(int=0)))
            .replace("{spec}", self.spec)
        )

    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"token {self.client.token}"} if self.client.token else {}


def _fill_json(value: Any, layer: Layer) -> Any:
    if isinstance(value, str):
        return layer.fill(value)
    if isinstance(value, dict):
        return {k: _fill_json(v, layer) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, layer) for v in value]
    return value


def request_bytes(case: Case, layer: Layer) -> bytes:
    """The exact bytes of a REST case on this layer."""
    if case.raw_request is not None:
        auth = "".join(f"{k}: {v}\r\n" for k, v in layer.auth_header().items())
        prefix = wire._host_port(layer.client.base_url)[2]
        text = case.raw_request.replace("{prefix}", prefix).replace("{auth}", auth)
        return text.encode("latin-1")
    headers = {**layer.auth_header(), **case.headers}
    body: bytes | None = None
    if case.raw_body is not None:
        body = case.raw_body.replace("{fill}", "x" * case.fill).encode("latin-1")
    elif case.body is not None:
        body = json.dumps(_fill_json(case.body, layer)).encode()
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    return wire.build_request(
        layer.client.base_url,
        case.method,
        layer.fill(case.path),
        headers=headers,
        body=body,
        declared_length=case.declared_length,
    )


def rest(case: Case, layer: Layer, bound: float) -> wire.Observation:
    return wire.exchange(layer.client.base_url, request_bytes(case, layer), bound)


@contextlib.contextmanager
def hold(case: Case, layer: Layer, bound: float) -> Iterator[wire.Observation]:
    """A half-open request, held open for the duration of the block."""
    with wire.held(layer.client.base_url, request_bytes(case, layer), bound) as obs:
        yield obs


def _patched(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def frame_bytes(f: Frame, base_message: dict[str, Any]) -> bytes:
    if f.message is not None:
        msg = _patched(base_message, f.message)
        payload = encode_v1(msg) if f.encode == "v1" else json.dumps(msg, default=str).encode()
    else:
        payload = f.data.encode("latin-1")
    return wire.frame(
        f.opcode, payload, fin=f.fin, masked=f.masked, declared_length=f.declared_length
    )


def connections(client: GatewayClient, kernel_id: str) -> int | None:
    """How many WebSockets the server counts on a kernel (None if it does not say)."""
    value = client.get_kernel(kernel_id).get("connections")
    return value if isinstance(value, int) else None


def frames(case: Case, layer: Layer, bound: float) -> wire.Observation:
    """Open the channels of the layer's kernel, write the case's frames, then either ask for
    kernel_info on the same socket (the server must answer or close within `bound`) or drop
    the TCP connection without a close frame (the server must let it go within `bound`)."""
    baseline = connections(layer.client, layer.kernel_id) if case.after == "drop" else None
    t0 = time.monotonic()
    ch = layer.client.channels(
        layer.kernel_id, subprotocols=OFFERS[case.offer], connect_timeout=bound
    )
    obs = wire.Observation("answered")
    try:
        if ch.fell_back:
            obs.notes.append("offer declined: legacy")
        elif ch.subprotocol:
            obs.notes.append(f"negotiated {ch.subprotocol}")
        base = ch.new("kernel_info_request", channel="shell")
        follow_up = bound
        if case.after == "probe":
            t1 = time.monotonic()
            ch.kernel_info(timeout=bound)  # the socket works before the bad frame
            rtt = time.monotonic() - t1
            follow_up = min(bound, max(FOLLOW_UP_MIN_S, FOLLOW_UP_ROUND_TRIPS * rtt))
            obs.notes.append(f"round trip {rtt * 1000:.0f} ms")
        try:
            for f in case.frames:
                ch.ws.sock.sendall(frame_bytes(f, base))
        except OSError as exc:
            obs.notes.append(f"send failed: {type(exc).__name__}")
        if case.after == "drop":
            return _drop(ch, layer, baseline, bound, obs, t0)
        try:
            ch.kernel_info(timeout=follow_up)
            obs.message = "kernel_info answered on the same socket"
        except ConnectionClosed as exc:
            obs.outcome, obs.close_code = "closed", exc.code
            obs.message = clip(redact(str(exc).split(";")[0]), 200)
        except ReplyTimeout:
            obs.outcome = "hung"
            obs.message = (
                f"no kernel_info_reply and no close within {follow_up:.1f}s "
                f"({FOLLOW_UP_ROUND_TRIPS} round trips of this socket)"
            )
            obs.bound_s = follow_up
        except (ChannelsError, FramingError) as exc:
            obs.outcome, obs.message = "closed", clip(redact(str(exc)), 200)
    finally:
        with contextlib.suppress(Exception):
            ch.close()
    obs.elapsed_s = time.monotonic() - t0
    return obs


def _drop(ch, layer: Layer, baseline, bound, obs: wire.Observation, t0) -> wire.Observation:
    opened = connections(layer.client, layer.kernel_id)
    with contextlib.suppress(OSError):
        ch.ws.sock.shutdown(2)
    with contextlib.suppress(OSError, websocket.WebSocketException):
        ch.ws.sock.close()
    obs.elapsed_s = time.monotonic() - t0
    if baseline is None:
        obs.outcome, obs.message = "kept", "the server does not report a connection count"
        return obs
    try:
        wait_for(
            "the dropped WebSocket to be let go",
            lambda: connections(layer.client, layer.kernel_id) == baseline,
            bound,
        )
    except WaitTimeout:
        now = connections(layer.client, layer.kernel_id)
        obs.outcome = "kept"
        obs.message = f"connections {baseline} -> {opened} -> still {now} after {bound:.0f}s"
        return obs
    obs.outcome = "released"
    obs.message = f"connections {baseline} -> {opened} -> {baseline}"
    return obs
