"""All four channels across each hop, and the ordering a frontend relies on.

A frontend shows "busy" until it sees idle; outputs that arrive after idle, or a reply on the
wrong channel, are the "kernel status Unknown" symptoms of EG #1431 and #1360.
"""

from __future__ import annotations

from eg_harness.kernel import messages as m


def test_shell_and_iopub(chans):
    """execute_request on shell gets an execute_reply; its output arrives on iopub."""
    res = chans.execute("print('on iopub'); 6 * 7")
    assert res.status == "ok", res.describe_error()
    assert res.reply["channel"] == "shell", f"execute_reply came on {res.reply['channel']}"
    assert res.stdout.strip() == "on iopub" and res.result_text == "42"


def test_control_channel(chans, hop):
    """kernel_info and interrupt travel on control, and their replies come back on control."""
    info = chans.kernel_info(timeout=30, channel="control")
    assert info["channel"] == "control", f"kernel_info_reply came on {info['channel']}"
    assert info["content"]["status"] == "ok"
    req = chans.new("interrupt_request", channel="control")
    res = chans.request(req, 30, wait_idle=False)
    assert m.msg_type(res.reply) == "interrupt_reply", res.reply
    assert res.reply["channel"] == "control"


def test_stdin_round_trip(chans):
    """input() sends input_request on stdin; our input_reply is what the code receives."""
    res = chans.execute(
        "answer = input('name? ')\nprint('got', answer)", stdin_answers=["eg-harness"]
    )
    assert res.stdin_requests, "no input_request arrived on stdin"
    assert res.stdin_requests[0]["content"]["prompt"] == "name? "
    assert res.stdout.strip().endswith("got eg-harness"), res.stdout


def test_busy_results_idle_ordering(chans):
    """For each request: busy first, results between, idle last; execution_count increases."""
    counts = []
    for i in range(3):
        res = chans.execute(f"print({i}); {i}")
        kinds = [m.msg_type(f) for f in res.iopub]
        states = [f["content"]["execution_state"] for f in res.iopub if m.msg_type(f) == "status"]
        assert states[0] == "busy" and states[-1] == "idle", f"request {i}: {states}"
        assert kinds[0] == "status" and kinds[-1] == "status", f"request {i}: {kinds}"
        assert "stream" in kinds and "execute_result" in kinds, f"request {i}: {kinds}"
        counts.append(res.execution_count)
    assert counts == sorted(counts) and len(set(counts)) == 3, f"execution_count: {counts}"
