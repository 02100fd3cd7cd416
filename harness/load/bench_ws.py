"""Benchmark: the harness's channels client against a minimal raw websocket-client loop.

Both talk to the same kernel in the same run, in alternating blocks, so machine noise hits
both alike; the figure that matters is the ratio (aim: the harness within 5% of raw).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable

import websocket
from eg_harness.clients.gateway import GatewayClient
from eg_harness.kernel import messages as m

CODE_ECHO = "1"
THROUGHPUT_MIB = 10


def raw_execute(ws: websocket.WebSocket, code: str, session: str) -> int:
    """The least a client can do: send, then read JSON until this request's idle."""
    msg = m.execute_request(code, session=session)
    msg_id = msg["header"]["msg_id"]
    ws.send(json.dumps(msg))
    got_reply = got_idle = False
    received = 0
    while not (got_reply and got_idle):
        frame = ws.recv()
        received += len(frame)
        data = json.loads(frame)
        if data.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = data["header"]["msg_type"]
        if kind == "execute_reply":
            got_reply = True
        elif kind == "status" and data["content"]["execution_state"] == "idle":
            got_idle = True
    return received


def _time(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run(
    gateway_url: str,
    token: str | None,
    kernelspec: str | None,
    *,
    rounds: int = 200,
    blocks: int = 5,
    progress=print,
) -> dict:
    client = GatewayClient(gateway_url, token)
    kernel_id = client.start_kernel(kernelspec)["id"]
    try:
        chans = client.channels(kernel_id, subprotocols=None)  # legacy, like the raw loop
        chans.wait_ready(60)
        raw = websocket.create_connection(
            client.ws_url(kernel_id), header=client.ws_headers(), timeout=60
        )
        session = uuid.uuid4().hex
        raw_execute(raw, CODE_ECHO, session)  # warm both paths
        chans.execute(CODE_ECHO)
        lat = {"raw": [], "harness": []}
        per_block = max(1, rounds // blocks)
        for b in range(blocks):
            progress(f"latency block {b + 1}/{blocks} ({per_block} executes per client)")
            lat["raw"] += _time(lambda: raw_execute(raw, CODE_ECHO, session), per_block)
            lat["harness"] += _time(lambda: chans.execute(CODE_ECHO), per_block)
        n = THROUGHPUT_MIB * 1024 * 1024
        big = f"import sys; sys.stdout.write('x' * {n}); sys.stdout.flush()"
        thr = {"raw": [], "harness": []}
        for b in range(3):
            progress(f"throughput block {b + 1}/3 ({THROUGHPUT_MIB} MiB per client)")
            thr["raw"] += [
                THROUGHPUT_MIB / t for t in _time(lambda: raw_execute(raw, big, session), 1)
            ]
            thr["harness"] += [
                THROUGHPUT_MIB / t for t in _time(lambda: chans.execute(big, 120), 1)
            ]
        raw.close()
        chans.close()
    finally:
        client.shutdown_quietly(kernel_id)
        client.close()
    med = {k: statistics.median(v) for k, v in lat.items()}
    mib = {k: statistics.median(v) for k, v in thr.items()}
    return {
        "latency_median_ms": {k: round(v * 1000, 3) for k, v in med.items()},
        "latency_p95_ms": {
            k: round(sorted(v)[int(0.95 * (len(v) - 1))] * 1000, 3) for k, v in lat.items()
        },
        "latency_ratio": round(med["harness"] / med["raw"], 3),
        "throughput_mib_s": {k: round(v, 1) for k, v in mib.items()},
        "throughput_ratio": round(mib["harness"] / mib["raw"], 3),
        "rounds": rounds,
    }


def print_report(res: dict) -> None:
    lm, lp, tp = res["latency_median_ms"], res["latency_p95_ms"], res["throughput_mib_s"]
    print(f"{'client':10} {'median ms':>10} {'p95 ms':>9} {'MiB/s':>8}")
    for k in ("raw", "harness"):
        print(f"{k:10} {lm[k]:10.2f} {lp[k]:9.2f} {tp[k]:8.1f}")
    lr, tr = res["latency_ratio"], res["throughput_ratio"]
    print(f"\nlatency harness/raw: {lr:.3f} ({(lr - 1) * 100:+.1f}%; aim within +5%)")
    print(f"throughput harness/raw: {tr:.3f} ({(tr - 1) * 100:+.1f}%; aim within -5%)")
