"""Unit tests for harness.messages: the envelope, channel routing and reply matching."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from eg_harness.kernel import messages as m


def _reply_to(request: dict, msg_type: str, *, channel: str = "shell", **content) -> dict:
    return {
        "header": m.new_header(msg_type, "kernel-session"),
        "parent_header": dict(request["header"]),
        "metadata": {},
        "content": content,
        "channel": channel,
    }


# -- headers -----------------------------------------------------------------------------


def test_header_fields():
    before = datetime.now(timezone.utc)
    h = m.new_header("kernel_info_request", "sess-1", username="alice")
    after = datetime.now(timezone.utc)
    assert set(h) == {"msg_id", "msg_type", "session", "username", "date", "version"}
    assert h["msg_type"] == "kernel_info_request"
    assert h["session"] == "sess-1"
    assert h["username"] == "alice"
    assert h["version"] == m.PROTOCOL_VERSION == "5.3"
    assert len(h["msg_id"]) == 32
    int(h["msg_id"], 16)  # hex
    date = datetime.fromisoformat(h["date"])
    assert date.tzinfo is not None
    assert date.utcoffset() == timedelta(0)
    assert before <= date <= after


def test_default_username_and_unique_ids():
    ids = {m.new_header("execute_request", "s")["msg_id"] for _ in range(200)}
    assert len(ids) == 200
    assert m.new_header("execute_request", "s")["username"] == "eg-harness"


def test_new_message_envelope():
    parent = m.new_header("execute_request", "s")
    msg = m.new_message(
        "comm_msg",
        {"comm_id": "c", "data": {}},
        session="s",
        username="bob",
        parent_header=parent,
        metadata={"k": "v"},
        buffers=[b"\x00\x01"],
    )
    assert msg["header"]["msg_type"] == "comm_msg"
    assert msg["header"]["session"] == "s"
    assert msg["header"]["username"] == "bob"
    assert msg["parent_header"] == parent
    assert msg["metadata"] == {"k": "v"}
    assert msg["content"] == {"comm_id": "c", "data": {}}
    assert msg["buffers"] == [b"\x00\x01"]
    assert msg["channel"] == "shell"


def test_new_message_defaults_are_fresh_empty_dicts_and_no_buffers():
    a = m.new_message("kernel_info_request", session="s")
    b = m.new_message("kernel_info_request", session="s")
    assert a["content"] == {} and a["metadata"] == {} and a["parent_header"] == {}
    assert "buffers" not in a
    a["content"]["x"] = 1
    a["metadata"]["y"] = 2
    assert b["content"] == {} and b["metadata"] == {}
    assert "buffers" not in m.new_message("comm_msg", session="s", buffers=[])


# -- channel routing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "channel"),
    [
        ("execute_request", "shell"),
        ("kernel_info_request", "shell"),
        ("complete_request", "shell"),
        ("comm_open", "shell"),
        ("interrupt_request", "control"),
        ("shutdown_request", "control"),
        ("debug_request", "control"),
        ("input_reply", "stdin"),
    ],
)
def test_channel_routing(msg_type, channel):
    assert m.REQUEST_CHANNEL[msg_type] == channel
    assert m.new_message(msg_type, session="s")["channel"] == channel


def test_unknown_type_goes_to_shell_and_explicit_channel_wins():
    assert m.new_message("made_up_request", session="s")["channel"] == "shell"
    assert m.new_message("kernel_info_request", session="s", channel="control")["channel"] == (
        "control"
    )
    assert m.new_message("shutdown_request", session="s", channel="shell")["channel"] == "shell"


# -- msg_type / parent_id ----------------------------------------------------------------


def test_msg_type_and_parent_id_tolerate_missing_parts():
    assert m.msg_type({"header": {"msg_type": "status"}}) == "status"
    assert m.msg_type({"msg_type": "stream"}) == "stream"  # flattened form
    assert m.msg_type({"header": None}) == ""
    assert m.msg_type({}) == ""
    assert m.parent_id({"parent_header": {"msg_id": "p"}}) == "p"
    assert m.parent_id({"parent_header": None}) is None
    assert m.parent_id({}) is None


def test_is_idle_for_positive():
    req = m.execute_request("1", session="s")
    idle = _reply_to(req, "status", channel="iopub", execution_state="idle")
    assert m.is_idle_for(idle, req)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda f: f["content"].update(execution_state="busy"), id="busy"),
        pytest.param(lambda f: f.update(channel="shell"), id="wrong-channel"),
        pytest.param(lambda f: f.pop("channel"), id="no-channel"),
        pytest.param(lambda f: f["header"].update(msg_type="stream"), id="not-status"),
        pytest.param(lambda f: f["parent_header"].update(msg_id="other"), id="other-parent"),
        pytest.param(lambda f: f.update(content=None), id="no-content"),
    ],
)
def test_is_idle_for_negative(mutate):
    req = m.execute_request("1", session="s")
    frame = _reply_to(req, "status", channel="iopub", execution_state="idle")
    assert m.is_idle_for(frame, req)  # the unmutated frame is idle, so the mutation decides
    mutate(frame)
    assert not m.is_idle_for(frame, req)


# -- execute_request ---------------------------------------------------------------------


def test_execute_request_content():
    req = m.execute_request("x = 1", session="sess")
    assert req["header"]["msg_type"] == "execute_request"
    assert req["header"]["session"] == "sess"
    assert req["channel"] == "shell"
    assert req["content"] == {
        "code": "x = 1",
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }


def test_execute_request_silent_and_stdin():
    req = m.execute_request("input()", session="s", allow_stdin=True, silent=True)
    assert req["content"]["silent"] is True
    assert req["content"]["store_history"] is False
    assert req["content"]["allow_stdin"] is True
