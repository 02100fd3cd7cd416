"""Several clients, reconnects and idle connections: the WebSocket life a browser tab has.

EG #953 (reconnect storms), #1431/#1360 (disconnects, status "Unknown"): what happens to a
kernel's messages while its client is away decides whether a user loses output.
"""

from __future__ import annotations

import time

from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import ChannelsError


def test_iopub_broadcast_and_private_shell_replies(hop, hop_kernel):
    """Two clients on one kernel both see iopub; each execute_reply goes only to its sender."""
    a = hop.channels(hop_kernel, "v1")
    b = hop.channels(hop_kernel, "v1")
    try:
        a.wait_ready(hop.client.launch_timeout)
        b.wait_ready(hop.client.launch_timeout)
        res_a = a.execute("print('from a')")
        assert res_a.stdout.strip() == "from a"
        # b's own request is answered after a's finished, so if a's reply were broadcast to b
        # it would be in b's queue by the time b's reply arrives.
        res_b = b.execute("print('from b')")
        assert res_b.stdout.strip() == "from b"
        a_id = res_a.request["header"]["msg_id"]
        seen_by_b = [f for f in b.received if m.parent_id(f) == a_id]
        assert any(m.msg_type(f) == "stream" for f in seen_by_b), (
            f"client b did not see client a's output on iopub ({hop.name})"
        )
        leaked = [f for f in seen_by_b if f.get("channel") == "shell"]
        assert not leaked, f"client a's shell reply was delivered to client b on {hop.name}"
    finally:
        a.close()
        b.close()


def test_reconnect_keeps_state_and_reports_buffering(hop, hop_kernel, run_state):
    """Drop the socket mid-execution, reconnect with the same session: state survives.

    jupyter_server buffers a kernel's messages while a session is disconnected and replays
    them on reconnect with the same session id; the harness records whether this hop does.
    """
    ch = hop.channels(hop_kernel, "v1")
    session = ch.session
    ch.wait_ready(hop.client.launch_timeout)
    assert ch.execute("kept = 'yes'").status == "ok"
    code = "import time\nfor i in range(20):\n    print(i, flush=True)\n    time.sleep(0.1)\n"
    req = m.execute_request(code, session=session)
    ch.send(req)
    ch.collect(req, 30, until=lambda f: m.msg_type(f) == "stream")
    ch.ws.sock.close()  # an abrupt drop, not a polite close: what a network failure does
    again = hop.channels(hop_kernel, "v1", session=session)
    try:
        # Wait for this execution to end: its idle status, replayed or live. The cell ends 2s
        # after it starts; a kernel_info probe behind it, answered while nothing of the cell
        # came, proves the cell's messages are not coming (not replayed) without the 15s.
        try:
            res = again.collect(req, 15, probe_after=1.0)
            replayed = True
        except ChannelsError:
            res, replayed = None, False
        got = [int(x) for x in res.stdout.split()] if res else []
        after = again.execute("print(kept)")
        assert after.stdout.strip() == "yes", (
            f"kernel state lost across a reconnect: {after.stdout!r}"
        )
        behaviour = (
            "buffered and replayed (jupyter_server session buffering)"
            if replayed and got
            else "not replayed (messages sent while away are lost)"
        )
        if got:
            assert got == sorted(got) and len(set(got)) == len(got), (
                f"replayed outputs are out of order or duplicated: {got}"
            )
        run_state.table_row(
            "Reconnect with the same session",
            ["hop", "outputs after reconnect", "behaviour"],
            [hop.name, f"{len(got)} (last {got[-1] if got else '-'})", behaviour],
        )
    finally:
        again.close()


def test_idle_connection_survives_ping_interval(hop, hop_kernel, target):
    """An idle connection outlives the gateway's ping interval and still executes."""
    interval = target.gateway.ws_ping_interval
    ch = hop.channels(hop_kernel, "v1")
    try:
        ch.wait_ready(hop.client.launch_timeout)
        idle_until = time.monotonic() + interval * 1.5 + 1
        while time.monotonic() < idle_until:  # read (and answer pings) without sending
            frame = ch.recv(idle_until - time.monotonic())
            assert frame is None or m.msg_type(frame) in ("status", "stream"), frame
        res = ch.execute("print('still here')")
        assert res.stdout.strip() == "still here", (
            f"the connection did not survive {interval * 1.5 + 1:.0f}s idle on {hop.name}"
        )
        if hop.name == "gateway":
            assert ch.control_frames >= 1, (
                f"no ping arrived in {interval * 1.5 + 1:.0f}s although the gateway's interval "
                f"is {interval:.0f}s"
            )
    finally:
        ch.close()
