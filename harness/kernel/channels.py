"""Kernel channels over one WebSocket: send requests, collect replies and iopub output.

Synchronous on purpose (websocket-client): the same object serves pytest scenarios, locust
users and a blocking kernel-client adapter. Everything received is kept, in order, so a test
can reason about ordering and about messages that belong to nobody.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket
from eg_harness.errors import HarnessError
from eg_harness.kernel import disconnect
from eg_harness.kernel import messages as m
from eg_harness.kernel.framing import LEGACY, codec

# Called with every message any KernelChannels receives (e.g. a messaging-spec validator the
# pytest plugin installs); a hook must not raise.
MESSAGE_HOOKS: list = []


class ChannelsError(HarnessError, AssertionError):
    """The channels WebSocket failed: handshake refused, closed, or a reply never came."""


class ConnectionClosed(ChannelsError):
    """The server (or something between) ended the connection; the message says how and when."""

    def __init__(self, text: str, *, code: int | None, in_flight: disconnect.InFlight | None):
        super().__init__(text)
        self.code = code
        self.in_flight = in_flight


class ReplyTimeout(ChannelsError):
    """A request's reply or idle did not arrive in time; the evidence tells a stall from slowness.

    `since_last_s` is how long before the deadline the last frame for this request arrived: a
    stream still flowing at the deadline means a slow run, a long silence means a stall.
    """

    def __init__(
        self,
        text: str,
        *,
        partial: ExecuteResult,
        since_last_s: float,
        stalled: bool,
        overtaken: str | None = None,
    ):
        super().__init__(text)
        self.partial = partial  # what did arrive: the reply (if any) and iopub so far
        self.since_last_s = since_last_s
        # Ended by `quiet_limit` (nothing arriving) or by a probe answered first (`overtaken`
        # says which of its messages), not by the deadline.
        self.stalled = stalled
        self.overtaken = overtaken


@dataclass
class ExecuteResult:
    request: dict[str, Any]
    reply: dict[str, Any] | None
    iopub: list[dict[str, Any]] = field(default_factory=list)
    stdin_requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str | None:
        return (self.reply or {}).get("content", {}).get("status")

    @property
    def execution_count(self) -> int | None:
        return (self.reply or {}).get("content", {}).get("execution_count")

    def _streams(self, name: str) -> str:
        return "".join(
            msg["content"].get("text", "")
            for msg in self.iopub
            if m.msg_type(msg) == "stream" and msg["content"].get("name") == name
        )

    @property
    def stdout(self) -> str:
        return self._streams("stdout")

    @property
    def stderr(self) -> str:
        return self._streams("stderr")

    @property
    def result_text(self) -> str | None:
        for msg in self.iopub:
            if m.msg_type(msg) == "execute_result":
                return msg["content"]["data"].get("text/plain")
        return None

    @property
    def error(self) -> dict[str, Any] | None:
        for msg in self.iopub:
            if m.msg_type(msg) == "error":
                return msg["content"]
        if self.status == "error":
            return self.reply["content"]
        return None

    def describe_error(self) -> str:
        err = self.error
        if not err:
            return f"status {self.status!r}"
        return f"{err.get('ename')}: {err.get('evalue')}"


class KernelChannels:
    """One WebSocket to /api/kernels/{id}/channels, in whichever protocol the server chose."""

    def __init__(
        self,
        url: str,
        *,
        headers: list[str] | None = None,
        subprotocols: list[str] | None = None,
        session: str | None = None,
        username: str = "eg-harness",
        connect_timeout: float = 30.0,
        ping_interval: float | None = None,
        keep_session_on_fallback: bool = False,
    ) -> None:
        self.url = url
        # What a dropped connection's message can infer from (disconnect.Timeline): when it
        # opened, when the last pings came, and how often the server says it pings.
        self.ping_interval = ping_interval
        self.pings: deque[float] = deque(maxlen=16)
        self.session = session or uuid.uuid4().hex
        self.username = username
        self.received: list[dict[str, Any]] = []
        # Wall-clock arrival per msg_id: with the kernel's header.date it shows how far behind
        # the kernel this client was (eg_harness.checks.backlog tells a dropping hop from a
        # backlog).
        self.arrivals: dict[str, float] = {}
        self._pending: list[dict[str, Any]] = []
        # Probes a request wait sent behind its request (collect's `probe_after`): their
        # answers are evidence, kept apart from the frames a test reads.
        self._probe_ids: set[str] = set()
        self._probe_frames: list[dict[str, Any]] = []
        self._partial: dict[str, ExecuteResult] = {}
        self.control_frames = 0
        self.nudges = 0
        self.offered = list(subprotocols or [])
        self.fell_back = False
        self.last_frame_at = time.monotonic()  # last data frame received (or the connect)
        self._sending: disconnect.InFlight | None = None  # set while a send is under way
        self._last_sent: tuple[disconnect.InFlight, float] | None = None
        try:
            self.ws = self._connect(headers, self.offered, connect_timeout)
        except websocket.WebSocketException as exc:
            # A server that ignores an offered subprotocol answers without one; websocket-client
            # calls that an invalid header. Jupyter clients then speak legacy, and so do we.
            if not self.offered or "Invalid WebSocket Header" not in str(exc):
                raise ChannelsError(
                    f"WebSocket to {_strip_query(url)} failed: {type(exc).__name__}: {exc}"
                ) from exc
            self.fell_back = True
            # The declined attempt may still hold the server's side of this session for a
            # moment; a fresh session id keeps the new connection from replacing it in turn.
            # JupyterLab keeps its session id (`keep_session_on_fallback`), and meets that.
            if not keep_session_on_fallback:
                fresh = uuid.uuid4().hex
                self.url = self.url.replace(f"session_id={self.session}", f"session_id={fresh}")
                self.session = fresh
            self.ws = self._connect(headers, [], connect_timeout)
        self.opened_at = time.monotonic()
        self.subprotocol = self.ws.getsubprotocol() or LEGACY
        self._encode, self._decode = codec(self.subprotocol)

    def _connect(self, headers, subprotocols, timeout) -> websocket.WebSocket:
        # websocket-client logs an ERROR for a declined subprotocol; the fallback handles it.
        quiet = logging.getLogger("websocket")
        level = quiet.level
        if subprotocols:
            quiet.setLevel(logging.CRITICAL)
        try:
            return websocket.create_connection(
                self.url,
                header=headers or [],
                subprotocols=subprotocols or None,
                timeout=timeout,
                enable_multithread=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise ChannelsError(
                f"WebSocket handshake to {_strip_query(self.url)} refused with HTTP "
                f"{exc.status_code}"
            ) from exc
        except OSError as exc:
            raise ChannelsError(
                f"WebSocket to {_strip_query(self.url)} failed: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            quiet.setLevel(level)

    # -- framing -------------------------------------------------------------------------
    def send(self, msg: dict[str, Any]) -> dict[str, Any]:
        payload, binary = self._encode(msg)
        self._sending = disconnect.InFlight("sending", len(payload), msg_type=m.msg_type(msg))
        self._last_sent = (self._sending, time.monotonic())
        try:
            if binary:
                self.ws.send_binary(payload)
            else:
                self.ws.send(payload)
        except (OSError, websocket.WebSocketException) as exc:
            raise self._closed(None, "", cause=f"{type(exc).__name__}: {exc}") from exc
        self._sending = None
        return msg

    def _closed(self, code: int | None, reason: str, cause: str | None = None) -> ConnectionClosed:
        """The error for a connection that ended, with what was moving and how quiet it was."""
        in_flight = self._sending or self._receiving()
        last, sent_at = self._last_sent or (None, None)
        now = time.monotonic()
        timeline = disconnect.Timeline(
            age_s=now - getattr(self, "opened_at", now),
            pings=[now - t for t in self.pings],
            ping_interval=self.ping_interval,
        )
        text = disconnect.describe(
            self.url,
            code=code,
            reason=reason,
            in_flight=in_flight,
            idle_s=time.monotonic() - self.last_frame_at,
            received=len(self.received),
            last_sent=last,
            last_sent_age_s=None if sent_at is None else time.monotonic() - sent_at,
            cause=cause,
            timeline=timeline,
        )
        return ConnectionClosed(text, code=code, in_flight=in_flight)

    def _receiving(self) -> disconnect.InFlight | None:
        """The frame websocket-client was part-way through reading, if any."""
        buf = getattr(self.ws, "frame_buffer", None)
        if buf is None or buf.length is None:
            return None
        done = sum(len(b) for b in buf.recv_buffer)
        return disconnect.InFlight("receiving", buf.length, done=done)

    def _recv_frame(self, timeout: float) -> dict[str, Any] | None:
        """One data frame within `timeout`, or None.

        Control frames return too (as None): EG pings every EG_WS_PING_INTERVAL_SECS, and a
        blocking read that swallowed pings would restart its socket timeout on each one and
        never time out.
        """
        self.ws.settimeout(max(timeout, 0.001))
        try:
            opcode, data = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, websocket.WebSocketException) as exc:
            raise self._closed(None, "", cause=f"{type(exc).__name__}: {exc}") from exc
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise self._closed(*disconnect.close_frame(data))
        if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            self.control_frames += 1
            if opcode == websocket.ABNF.OPCODE_PING:
                self.pings.append(time.monotonic())
            return None
        self.last_frame_at = time.monotonic()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            data = data.decode("utf-8")
        msg = self._decode(data)
        self.arrivals[(msg.get("header") or {}).get("msg_id", "")] = time.time()
        self.received.append(msg)
        for hook in MESSAGE_HOOKS:
            hook(msg, self)
        if self._probe_ids and m.parent_id(msg) in self._probe_ids:
            self._probe_frames.append(msg)  # a probe's answer: no test asked for it
            return None
        return msg

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """Next message not yet consumed by a request wait, or None on timeout."""
        if self._pending:
            return self._pending.pop(0)
        return self._recv_frame(timeout)

    def take(self, match) -> dict[str, Any] | None:
        """A frame already received and kept for whoever asks (a request's wait keeps frames
        that are not its own) for which `match(frame)` holds, removed from the queue."""
        for i, frame in enumerate(self._pending):
            if match(frame):
                return self._pending.pop(i)
        return None

    # -- requests ------------------------------------------------------------------------
    def new(self, msg_type: str, content: dict[str, Any] | None = None, **kw) -> dict[str, Any]:
        return m.new_message(msg_type, content, session=self.session, username=self.username, **kw)

    def request(
        self,
        msg: dict[str, Any],
        timeout: float,
        *,
        wait_idle: bool = True,
        stdin_answers: list[str] | None = None,
        quiet_limit: float | None = None,
        probe_after: float | None = None,
    ) -> ExecuteResult:
        """Send `msg` and collect its reply (and iopub up to idle) within `timeout` seconds."""
        self.send(msg)
        return self.collect(
            msg,
            timeout,
            wait_idle=wait_idle,
            stdin_answers=stdin_answers,
            quiet_limit=quiet_limit,
            probe_after=probe_after,
        )

    def collect(
        self,
        msg: dict[str, Any],
        timeout: float,
        *,
        wait_idle: bool = True,
        stdin_answers: list[str] | None = None,
        until: Any = None,
        quiet_limit: float | None = None,
        probe_after: float | None = None,
    ) -> ExecuteResult:
        """Collect what answers an already-sent `msg`.

        `until(frame) -> bool` stops early (e.g. at the first `busy`), leaving the rest for a
        later `collect` of the same request. `quiet_limit` gives up early when nothing for
        `msg` has arrived for that long: a stalled stream, told apart from a slow one.

        `probe_after`: after that long with nothing for `msg` (and again after each further
        silence as long), a kernel_info_request is sent behind it. The kernel answers shell
        requests one at a time, in order, and publishes iopub on one ordered socket, so a probe
        whose reply (or idle) arrives while `msg`'s has not proves that it was lost, not late:
        the wait ends there, a stall, instead of waiting `quiet_limit` out. A hop that loses
        the probes too still ends at `quiet_limit`.
        """
        result = self._partial.pop(msg["header"]["msg_id"], None) or ExecuteResult(msg, None)
        answers = list(stdin_answers or [])
        idle = not wait_idle or any(m.is_idle_for(f, msg) for f in result.iopub)
        deadline = time.monotonic() + timeout
        last_for_it = last_probe = time.monotonic()
        probes: list[dict[str, Any]] = []
        while result.reply is None or not idle:
            now = time.monotonic()
            give_up = deadline if quiet_limit is None else min(deadline, last_for_it + quiet_limit)
            if now >= give_up:
                quiet = now - last_for_it
                raise self._reply_timeout(msg, result, timeout, quiet, stalled=now < deadline)
            wake = give_up
            if probe_after is not None:
                next_probe = max(last_for_it, last_probe) + probe_after
                if now >= next_probe:
                    probes.append(self._probe())
                    last_probe, next_probe = now, now + probe_after
                overtaken = self._overtaken(probes, result, idle)
                if overtaken:
                    quiet = now - last_for_it
                    raise self._reply_timeout(
                        msg, result, timeout, quiet, stalled=True, overtaken=overtaken
                    )
                wake = min(give_up, next_probe)
            frame = self._next_for(msg, wake - now)
            if frame is None:
                continue
            last_for_it = time.monotonic()
            channel = frame.get("channel")
            if channel == "iopub":
                result.iopub.append(frame)
                if m.is_idle_for(frame, msg):
                    idle = True
            elif channel == "stdin" and m.msg_type(frame) == "input_request":
                result.stdin_requests.append(frame)
                if not answers:
                    raise ChannelsError("kernel asked for input but the test gave no answer")
                reply = self.new(
                    "input_reply", {"value": answers.pop(0)}, parent_header=frame["header"]
                )
                self.send(reply)
            elif m.msg_type(frame).endswith("_reply"):
                result.reply = frame
            if until is not None and until(frame):
                self._partial[msg["header"]["msg_id"]] = result
                return result
        return result

    def _probe(self) -> dict[str, Any]:
        probe = self.new("kernel_info_request", channel="shell")
        self._probe_ids.add(probe["header"]["msg_id"])
        self.send(probe)
        return probe

    def _overtaken(self, probes: list[dict[str, Any]], result: ExecuteResult, idle: bool):
        """Which answer of a later probe arrived before the request's own, if one did."""
        if not probes:
            return None
        ids = {p["header"]["msg_id"] for p in probes}
        for frame in self._probe_frames:
            if m.parent_id(frame) not in ids:
                continue
            if result.reply is None and m.msg_type(frame).endswith("_reply"):
                return "a later request's reply came first: this request's reply was lost"
            if not idle and any(m.is_idle_for(frame, p) for p in probes):
                return "a later request's idle status came first: this request's was lost"
        return None

    def _reply_timeout(
        self, msg, result: ExecuteResult, timeout: float, quiet: float, stalled, overtaken=None
    ):
        got = "no reply" if result.reply is None else "a reply but no idle status"
        kinds: dict[str, int] = {}
        for f in result.iopub:
            kinds[m.msg_type(f)] = kinds.get(m.msg_type(f), 0) + 1
        seen = ", ".join(f"{k} x{n}" for k, n in kinds.items()) or "none"
        when = f"stalled: nothing for it in {quiet:.1f}s" if stalled else f"within {timeout:.0f}s"
        if overtaken:
            when = f"lost: {overtaken} (nothing for it in {quiet:.1f}s)"
        others = ", ".join(_brief(f) for f in self._pending[:6])
        return ReplyTimeout(
            f"{m.msg_type(msg)} got {got}, {when} (iopub for it: {seen}; last one {quiet:.1f}s "
            f"ago; {len(self._pending)} other messages queued{': ' + others if others else ''})",
            partial=result,
            since_last_s=quiet,
            stalled=stalled,
            overtaken=overtaken,
        )

    def _next_for(self, msg: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The next frame whose parent is `msg`; others are kept for whoever asks later."""
        want = msg["header"]["msg_id"]
        for i, frame in enumerate(self._pending):
            if m.parent_id(frame) == want:
                return self._pending.pop(i)
        frame = self._recv_frame(timeout)
        if frame is not None and m.parent_id(frame) != want:
            self._pending.append(frame)
            return None
        return frame

    def execute(self, code: str, timeout: float = 60.0, **kw) -> ExecuteResult:
        allow_stdin = bool(kw.get("stdin_answers"))
        req = m.execute_request(code, session=self.session, allow_stdin=allow_stdin)
        req["header"]["username"] = self.username
        return self.request(req, timeout, **kw)

    def kernel_info(self, timeout: float = 30.0, channel: str = "shell") -> dict[str, Any]:
        req = self.new("kernel_info_request", channel=channel)
        return self.request(req, timeout, wait_idle=False).reply

    def wait_ready(self, timeout: float, resend_every: float = 5.0) -> dict[str, Any]:
        """kernel_info until the kernel answers on shell AND its iopub reaches us.

        A reply on shell alone is not enough: after a start or restart the gateway's iopub
        subscription can lag, and the first cell's output would be lost (ZMQ's slow joiner).
        Like jupyter_server's `nudge`, keep asking until an iopub message for one of our
        requests arrives. `self.nudges` records how many requests that took.
        """
        deadline = time.monotonic() + timeout
        sent: set[str] = set()
        next_send = 0.0
        reply: dict[str, Any] | None = None
        iopub = False
        self.nudges = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                what = "kernel_info" if reply is None else "any iopub message after kernel_info"
                raise ChannelsError(
                    f"kernel did not answer {what} within {timeout:.0f}s ({len(sent)} requests)"
                )
            if now >= next_send:
                sent.add(self.send(self.new("kernel_info_request"))["header"]["msg_id"])
                self.nudges = len(sent)
                next_send = now + (resend_every if reply is None else 0.5)
            frame = self._recv_frame(min(deadline, next_send) - now)
            if frame is None:
                continue
            if m.parent_id(frame) not in sent:
                self._pending.append(frame)
                continue
            if m.msg_type(frame) == "kernel_info_reply":
                reply = frame
                next_send = min(next_send, time.monotonic() + 0.5)
            elif frame.get("channel") == "iopub":
                iopub = True
            if reply is not None and iopub:
                return reply

    def wait_status(
        self,
        wanted: set[str],
        timeout: float,
        enough: Callable[[], str | None] | None = None,
    ) -> tuple[str, float, list[str]]:
        """The first iopub status in `wanted` within `timeout`: (state, seconds, states seen).

        For the statuses a server sends on its own (a restarter's "restarting" and "dead"), which
        answer no request of ours; whatever else arrives meanwhile is dropped. `enough`, asked
        about once a second, ends the wait early with its reason when the caller can tell the
        status will not come (proving an absence need not cost the whole bound).
        """
        t0 = time.monotonic()
        seen: list[str] = []
        while (left := t0 + timeout - time.monotonic()) > 0:
            if enough is not None and (reason := enough()):
                raise ChannelsError(
                    f"no iopub status {sorted(wanted)} after {time.monotonic() - t0:.1f}s, "
                    f"{reason} (statuses seen: {seen or 'none'})"
                )
            frame = self.recv(min(left, 1.0))
            if frame is None or frame.get("channel") != "iopub" or m.msg_type(frame) != "status":
                continue
            state = frame["content"].get("execution_state")
            seen.append(state)
            if state in wanted:
                return state, time.monotonic() - t0, seen
        raise ChannelsError(
            f"no iopub status {sorted(wanted)} within {timeout:.0f}s "
            f"(statuses seen: {seen or 'none'})"
        )

    def close(self) -> None:
        try:
            self.ws.close(timeout=2)
        except Exception:  # noqa: BLE001 - closing a broken socket is best effort
            pass

    def __enter__(self) -> KernelChannels:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _brief(frame: dict[str, Any]) -> str:
    """A queued message in a few words: its type (a status's state) and its parent's id."""
    kind = m.msg_type(frame)
    if kind == "status":
        kind += "/" + str((frame.get("content") or {}).get("execution_state"))
    return f"{kind} (parent {(m.parent_id(frame) or 'none')[:8]})"


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]
