"""Kernel channels on asyncio (aiohttp): the load path, where one process holds 1,000 sockets.

The conformance path keeps its exact synchronous client (channels.py), which keeps every
message for a scenario to reason about. Under load that would cost a thread or a blocking
socket per session and a JSON parse per frame; here one event loop serves every session, and a
frame is decoded only when it can belong to the request in flight: every session on a kernel
receives every iopub message of that kernel (each WebSocket gets its own iopub subscription),
so most frames are someone else's, recognised by the absence of our msg_id in the raw bytes.
Framing and envelopes are the same modules the synchronous client uses.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from eg_harness.kernel import messages as m
from eg_harness.kernel.framing import LEGACY, codec


class AioChannelsError(Exception):
    """The WebSocket could not be opened, or closed under a request."""


@dataclass
class Timing:
    """One execute: seconds from the request's send to its reply and to its idle status."""

    sent_at: float  # time.monotonic()
    reply_s: float | None = None
    idle_s: float | None = None
    status: str | None = None

    @property
    def done(self) -> bool:
        return self.reply_s is not None and self.idle_s is not None


class _Pending:
    __slots__ = ("msg_id", "needle_b", "needle_s", "timing", "replied", "done")

    def __init__(self, msg_id: str, timing: Timing) -> None:
        self.msg_id = msg_id
        self.needle_s = msg_id
        self.needle_b = msg_id.encode()
        self.timing = timing
        loop = asyncio.get_running_loop()
        self.replied: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[Timing] = loop.create_future()


class AioChannels:
    """One kernel WebSocket on a shared aiohttp session; one request in flight at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: str) -> None:
        self.ws = ws
        self.session = session
        self.subprotocol = ws.protocol or LEGACY
        self._encode, self._decode = codec(self.subprotocol)
        self._pending: _Pending | None = None
        self.frames = 0  # data frames received, ours or not
        self.decoded = 0  # frames that had to be parsed
        self.closed_because: str | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        *,
        subprotocols: tuple[str, ...] = (),
        timeout: float = 30.0,
    ) -> AioChannels:
        session = uuid.uuid4().hex
        sep = "&" if "?" in url else "?"
        try:
            ws = await asyncio.wait_for(
                http.ws_connect(
                    f"{url}{sep}session_id={session}",
                    headers=headers,
                    protocols=subprotocols,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                    autoping=True,  # EG pings every EG_WS_PING_INTERVAL_SECS, as to a browser
                    heartbeat=None,
                    max_msg_size=0,
                ),
                timeout,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise AioChannelsError(
                f"handshake refused with HTTP {exc.status}: {exc.message}"
            ) from exc
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise AioChannelsError(f"{type(exc).__name__}: {exc}") from exc
        return cls(ws, session)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if frame.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    continue
                self.frames += 1
                p = self._pending
                if p is None:
                    continue
                data = frame.data
                if (p.needle_s if isinstance(data, str) else p.needle_b) not in data:
                    continue  # someone else's message: never parsed
                self.decoded += 1
                self._match(p, self._decode(data))
            code = self.ws.close_code
            self.closed_because = f"closed by the server (code {code})"
        except Exception as exc:  # the socket is gone; whoever waits must learn why
            self.closed_because = f"{type(exc).__name__}: {exc}"
        p = self._pending
        if p is not None:
            for fut in (p.replied, p.done):
                if not fut.done():
                    fut.set_exception(AioChannelsError(self.closed_because or "closed"))
            if not p.replied.cancelled():
                p.replied.exception()  # retrieved: a request without a grace never awaits it

    def _match(self, p: _Pending, msg: dict[str, Any]) -> None:
        if m.parent_id(msg) != p.msg_id:
            return
        now = time.monotonic()
        kind = m.msg_type(msg)
        t = p.timing
        if kind.endswith("_reply") and msg.get("channel") == "shell":
            t.reply_s = now - t.sent_at
            t.status = (msg.get("content") or {}).get("status")
            if not p.replied.done():
                p.replied.set_result(None)
        elif kind == "status" and (msg.get("content") or {}).get("execution_state") == "idle":
            t.idle_s = now - t.sent_at
        if t.done and not p.done.done():
            p.done.set_result(t)

    async def request(
        self, msg: dict[str, Any], timeout: float, *, idle_grace: float | None = None
    ) -> Timing:
        """Send one shell request; wait for its reply and its idle status. With `idle_grace`,
        an idle status that has not come that long after the reply is given up on: the Timing
        returns with `idle_s` None (a reply is still required within `timeout`)."""
        if self._pending is not None:
            raise AioChannelsError("a request is already in flight on this session")
        if self.closed_because:
            raise AioChannelsError(self.closed_because)
        timing = Timing(sent_at=time.monotonic())
        self._pending = p = _Pending(msg["header"]["msg_id"], timing)
        try:
            payload, binary = self._encode(msg)
            if binary:
                await self.ws.send_bytes(payload)
            else:
                await self.ws.send_str(payload)
            if idle_grace is None:
                return await asyncio.wait_for(p.done, timeout)
            await asyncio.wait_for(p.replied, timeout)
            try:
                return await asyncio.wait_for(p.done, idle_grace)
            except asyncio.TimeoutError:
                return timing
        except asyncio.TimeoutError:
            raise AioChannelsError(
                f"no reply and idle within {timeout:.0f}s"
                + (" (the reply came)" if timing.reply_s is not None else "")
            ) from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise AioChannelsError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._pending = None

    async def execute(self, code: str, timeout: float = 60.0) -> Timing:
        return await self.request(m.execute_request(code, session=self.session), timeout)

    async def kernel_info(
        self, timeout: float = 60.0, *, idle_grace: float | None = None
    ) -> Timing:
        msg = m.new_message("kernel_info_request", session=self.session)
        return await self.request(msg, timeout, idle_grace=idle_grace)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
