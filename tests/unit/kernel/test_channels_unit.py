"""Unit tests for harness.channels.ExecuteResult, built from hand-made messages (no socket)."""

from __future__ import annotations

from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import ChannelsError, ExecuteResult, _strip_query

SESSION = "test-session"


def _req() -> dict:
    return m.execute_request("print('hi')", session=SESSION)


def _iopub(req: dict, msg_type: str, **content) -> dict:
    return {
        "header": m.new_header(msg_type, "kernel"),
        "parent_header": dict(req["header"]),
        "metadata": {},
        "content": content,
        "channel": "iopub",
    }


def _reply(req: dict, **content) -> dict:
    return {
        "header": m.new_header("execute_reply", "kernel"),
        "parent_header": dict(req["header"]),
        "metadata": {},
        "content": content,
        "channel": "shell",
    }


def test_status_and_execution_count_from_the_reply():
    req = _req()
    res = ExecuteResult(req, _reply(req, status="ok", execution_count=7))
    assert res.status == "ok"
    assert res.execution_count == 7
    assert res.error is None


def test_no_reply_yet():
    res = ExecuteResult(_req(), None)
    assert res.status is None
    assert res.execution_count is None
    assert res.error is None
    assert res.describe_error() == "status None"
    assert res.stdout == "" and res.stderr == "" and res.result_text is None


def test_stdout_and_stderr_are_joined_in_order_and_kept_apart():
    req = _req()
    res = ExecuteResult(
        req,
        _reply(req, status="ok", execution_count=1),
        iopub=[
            _iopub(req, "status", execution_state="busy"),
            _iopub(req, "execute_input", code="...", execution_count=1),
            _iopub(req, "stream", name="stdout", text="one\n"),
            _iopub(req, "stream", name="stderr", text="warn: a\n"),
            _iopub(req, "stream", name="stdout", text="two"),
            _iopub(req, "display_data", data={"text/plain": "not a stream"}, metadata={}),
            _iopub(req, "stream", name="stdout", text="\nthree\n"),
            _iopub(req, "stream", name="stderr", text="warn: b\n"),
            _iopub(req, "status", execution_state="idle"),
        ],
    )
    assert res.stdout == "one\ntwo\nthree\n"
    assert res.stderr == "warn: a\nwarn: b\n"


def test_result_text_is_the_first_execute_result():
    req = _req()
    res = ExecuteResult(
        req,
        _reply(req, status="ok", execution_count=2),
        iopub=[
            _iopub(req, "display_data", data={"text/plain": "display"}, metadata={}),
            _iopub(
                req,
                "execute_result",
                data={"text/plain": "42", "text/html": "<b>42</b>"},
                metadata={},
                execution_count=2,
            ),
            _iopub(req, "execute_result", data={"text/plain": "later"}, execution_count=3),
        ],
    )
    assert res.result_text == "42"


def test_result_text_none_when_no_plain_text():
    req = _req()
    res = ExecuteResult(req, None, iopub=[_iopub(req, "execute_result", data={"image/png": "..."})])
    assert res.result_text is None


def test_error_from_iopub_wins_over_the_reply():
    req = _req()
    res = ExecuteResult(
        req,
        _reply(req, status="error", ename="ReplyError", evalue="from reply", traceback=[]),
        iopub=[
            _iopub(req, "stream", name="stdout", text="before\n"),
            _iopub(
                req, "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[]
            ),
        ],
    )
    assert res.status == "error"
    assert res.error["ename"] == "ZeroDivisionError"
    assert res.describe_error() == "ZeroDivisionError: division by zero"


def test_error_from_the_reply_when_iopub_has_none():
    req = _req()
    res = ExecuteResult(
        req,
        _reply(req, status="error", ename="NameError", evalue="name 'x' is not defined"),
        iopub=[_iopub(req, "status", execution_state="idle")],
    )
    assert res.error == {
        "status": "error",
        "ename": "NameError",
        "evalue": "name 'x' is not defined",
    }
    assert res.describe_error() == "NameError: name 'x' is not defined"


def test_error_from_iopub_even_if_reply_says_ok():
    # Some kernels publish an error and still reply ok; the error must not be lost.
    req = _req()
    res = ExecuteResult(
        req,
        _reply(req, status="ok", execution_count=3),
        iopub=[_iopub(req, "error", ename="Warning", evalue="w", traceback=[])],
    )
    assert res.error is not None
    assert res.describe_error() == "Warning: w"


def test_no_error_describes_the_status():
    req = _req()
    assert ExecuteResult(req, _reply(req, status="ok")).describe_error() == "status 'ok'"
    aborted = ExecuteResult(req, _reply(req, status="aborted"))
    assert aborted.error is None
    assert aborted.describe_error() == "status 'aborted'"


def test_default_lists_are_not_shared():
    a, b = ExecuteResult(_req(), None), ExecuteResult(_req(), None)
    a.iopub.append({"x": 1})
    a.stdin_requests.append({"y": 2})
    assert b.iopub == [] and b.stdin_requests == []


def test_strip_query_hides_tokens_in_error_messages():
    url = "ws://h:1/api/kernels/k/channels?token=abcdefgh12345678&session_id=s"
    assert _strip_query(url) == "ws://h:1/api/kernels/k/channels"
    assert _strip_query("ws://h/x") == "ws://h/x"


def test_channels_error_is_an_assertion_error():
    assert issubclass(ChannelsError, AssertionError)
