"""Building Jupyter messages and matching replies to requests.

One place owns the message envelope so every client (WebSocket, load journeys, adapters for
jupyter-kernel-test) agrees on headers, sessions and how a reply finds its request.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

PROTOCOL_VERSION = "5.3"

# Which channel each request type travels on, so callers name only the message type.
REQUEST_CHANNEL = {
    "execute_request": "shell",
    "kernel_info_request": "shell",
    "complete_request": "shell",
    "inspect_request": "shell",
    "history_request": "shell",
    "is_complete_request": "shell",
    "comm_info_request": "shell",
    "comm_open": "shell",
    "comm_msg": "shell",
    "comm_close": "shell",
    "interrupt_request": "control",
    "shutdown_request": "control",
    "debug_request": "control",
    "input_reply": "stdin",
}


def new_header(msg_type: str, session: str, username: str = "eg-harness") -> dict[str, Any]:
    return {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "session": session,
        "username": username,
        "date": datetime.now(timezone.utc).isoformat(),
        "version": PROTOCOL_VERSION,
    }


def new_message(
    msg_type: str,
    content: dict[str, Any] | None = None,
    *,
    session: str,
    channel: str | None = None,
    username: str = "eg-harness",
    parent_header: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    buffers: list[bytes] | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "header": new_header(msg_type, session, username),
        "parent_header": parent_header or {},
        "metadata": metadata or {},
        "content": content or {},
        "channel": channel or REQUEST_CHANNEL.get(msg_type, "shell"),
    }
    if buffers:
        msg["buffers"] = list(buffers)
    return msg


def execute_request(code: str, *, session: str, allow_stdin: bool = False, silent=False):
    return new_message(
        "execute_request",
        {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": allow_stdin,
            "stop_on_error": True,
        },
        session=session,
    )


def numbered_prints(n: int, *, session: str, username: str) -> dict[str, Any]:
    """An execute_request printing 0..n-1, each flushed on its own: n separate stream
    messages, in order, for floods and relay timings."""
    req = execute_request(f"for i in range({n}):\n    print(i, flush=True)\n", session=session)
    req["header"]["username"] = username
    return req


def msg_type(msg: dict[str, Any]) -> str:
    return (msg.get("header") or {}).get("msg_type") or msg.get("msg_type") or ""


def parent_id(msg: dict[str, Any]) -> str | None:
    return (msg.get("parent_header") or {}).get("msg_id")


def is_idle_for(msg: dict[str, Any], request: dict[str, Any]) -> bool:
    return (
        msg.get("channel") == "iopub"
        and msg_type(msg) == "status"
        and parent_id(msg) == request["header"]["msg_id"]
        and (msg.get("content") or {}).get("execution_state") == "idle"
    )
