"""A blocking kernel client over the gateway's WebSocket, shaped like jupyter_client's.

jupyter-kernel-test drives a `BlockingKernelClient` over ZMQ; a gateway kernel is reachable
only through its channels WebSocket. This adapter gives KernelTests the same surface
(`execute`, `get_shell_msg`, `iopub_channel.get_msg`, ...) backed by eg_harness.kernel.channels, so
the kernel's protocol conformance is checked through every hop a user's messages take.
"""

from __future__ import annotations

import time
from collections import deque
from queue import Empty
from typing import Any

from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import KernelChannels

CHANNELS = ("shell", "iopub", "stdin", "control")


def as_client_message(frame: dict[str, Any]) -> dict[str, Any]:
    """What jupyter_client's Session.deserialize hands a caller: msg_id/msg_type on top."""
    msg = {k: frame[k] for k in ("header", "parent_header", "metadata", "content") if k in frame}
    msg["buffers"] = list(frame.get("buffers") or [])
    msg["msg_id"] = msg["header"].get("msg_id")
    msg["msg_type"] = msg["header"].get("msg_type")
    return msg


class _Channel:
    def __init__(self, client: ChannelsKernelClient, name: str) -> None:
        self.client, self.name = client, name

    def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        return self.client._get(self.name, timeout)

    def msg_ready(self) -> bool:
        return bool(self.client._queues[self.name])

    def is_alive(self) -> bool:
        return True


class ChannelsKernelClient:
    """The subset of BlockingKernelClient that jupyter-kernel-test uses."""

    def __init__(self, channels: KernelChannels) -> None:
        self.channels = channels
        self._queues: dict[str, deque] = {c: deque() for c in CHANNELS}
        self.shell_channel = _Channel(self, "shell")
        self.iopub_channel = _Channel(self, "iopub")
        self.stdin_channel = _Channel(self, "stdin")
        self.control_channel = _Channel(self, "control")
        self.session = channels.session

    # -- receiving -----------------------------------------------------------------------
    def _get(self, channel: str, timeout: float | None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
        while not self._queues[channel]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Empty
            frame = self.channels.recv(remaining)
            if frame is not None:
                self._queues.setdefault(frame.get("channel", "shell"), deque()).append(frame)
        return as_client_message(self._queues[channel].popleft())

    def get_shell_msg(self, timeout: float | None = None) -> dict[str, Any]:
        return self._get("shell", timeout)

    def get_iopub_msg(self, timeout: float | None = None) -> dict[str, Any]:
        return self._get("iopub", timeout)

    def get_stdin_msg(self, timeout: float | None = None) -> dict[str, Any]:
        return self._get("stdin", timeout)

    def get_control_msg(self, timeout: float | None = None) -> dict[str, Any]:
        return self._get("control", timeout)

    # -- sending -------------------------------------------------------------------------
    def _send(self, msg_type: str, content: dict[str, Any], channel: str | None = None) -> str:
        msg = self.channels.new(msg_type, content, channel=channel)
        self.channels.send(msg)
        return msg["header"]["msg_id"]

    def execute(
        self,
        code: str,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
    ) -> str:
        return self._send(
            "execute_request",
            {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": user_expressions or {},
                "allow_stdin": bool(allow_stdin),
                "stop_on_error": stop_on_error,
            },
        )

    def kernel_info(self) -> str:
        return self._send("kernel_info_request", {})

    def complete(self, code: str, cursor_pos: int | None = None) -> str:
        return self._send(
            "complete_request",
            {"code": code, "cursor_pos": len(code) if cursor_pos is None else cursor_pos},
        )

    def inspect(self, code: str, cursor_pos: int | None = None, detail_level: int = 0) -> str:
        return self._send(
            "inspect_request",
            {
                "code": code,
                "cursor_pos": len(code) if cursor_pos is None else cursor_pos,
                "detail_level": detail_level,
            },
        )

    def history(
        self, raw: bool = True, output: bool = False, hist_access_type: str = "range", **kwargs: Any
    ) -> str:
        if (
            hist_access_type == "range"
        ):  # as jupyter_client: defaults only where they mean something
            kwargs.setdefault("session", 0)
            kwargs.setdefault("start", 0)
        return self._send(
            "history_request",
            {"raw": raw, "output": output, "hist_access_type": hist_access_type, **kwargs},
        )

    def is_complete(self, code: str) -> str:
        return self._send("is_complete_request", {"code": code})

    def comm_info(self, target_name: str | None = None) -> str:
        return self._send(
            "comm_info_request", {} if target_name is None else {"target_name": target_name}
        )

    def input(self, string: str) -> None:
        self._send("input_reply", {"value": string}, channel="stdin")

    def shutdown(self, restart: bool = False) -> str:
        return self._send("shutdown_request", {"restart": restart}, channel="control")

    def wait_for_ready(self, timeout: float | None = None) -> None:
        self.channels.wait_ready(timeout or 60.0)

    def start_channels(self, *args: Any, **kwargs: Any) -> None:
        """The WebSocket carries all channels and is already open."""

    def stop_channels(self) -> None:
        self.channels.close()

    @property
    def channels_running(self) -> bool:
        return True

    def msg_types_seen(self) -> list[str]:
        return [m.msg_type(f) for f in self.channels.received]
