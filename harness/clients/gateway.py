"""REST client for a Jupyter kernel service: Enterprise Gateway, or a user server in front of it.

A gateway-mode single-user server exposes the same /api/kernels surface as the gateway it
forwards to, so one client serves both hops; only the base URL and token differ.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx
from eg_harness.errors import HarnessError
from eg_harness.kernel.channels import ExecuteResult, KernelChannels
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip
from eg_harness.runtime.timing import Span, recorder

_DEFAULT = object()


class GatewayHTTPError(HarnessError, AssertionError):
    """A non-2xx answer, carrying the status and the server's own reason text."""

    def __init__(
        self, method: str, path: str, status: int, reason: str, message: str, traceback: str = ""
    ):
        self.method, self.path, self.status, self.reason, self.server_message = (
            method,
            path,
            status,
            reason,
            message,
        )
        # EG puts the real cause of a 500 only in the traceback ("Unknown server error").
        self.server_traceback = traceback
        self.cause = (traceback.strip().splitlines() or [""])[-1]
        text = f"{method} {path} -> {status}"
        detail = "; ".join(x for x in (reason, message) if x)
        if self.cause and self.cause not in detail:
            detail += f" (cause: {self.cause})"
        super().__init__(redact(f"{text}: {detail}" if detail else text))


def error_text(resp: httpx.Response) -> tuple[str, str, str]:
    """(reason, message, traceback) from a Jupyter error body, tolerant of non-JSON bodies."""
    try:
        body = resp.json()
    except ValueError:
        return resp.reason_phrase, clip(resp.text, 500), ""
    if not isinstance(body, dict):
        return resp.reason_phrase, clip(str(body), 500), ""
    return (
        str(body.get("reason") or resp.reason_phrase or ""),
        str(body.get("message") or ""),
        str(body.get("traceback") or ""),
    )


class StartWatch(Protocol):
    """What a cluster says about a pending start (eg_harness.k8s.podwatch.KernelPodWatch)."""

    def ended(self, kernel_id: str) -> str | None: ...

    def story(self, kernel_id: str, username: str | None) -> str | None: ...


class KernelStartFailed(HarnessError, AssertionError):
    """A kernel start that failed, told with what its pod did on the cluster."""


POD_POLL_S = 1.0  # how often a pending start's pod is read: a dead pod is named within seconds


@dataclass
class KernelHandle:
    """A started kernel with its channels open; `span` holds its start phases."""

    client: GatewayClient
    id: str
    name: str
    channels: KernelChannels
    span: Span
    model: dict[str, Any] = field(default_factory=dict)
    first_result: ExecuteResult | None = None  # the reply to launch()'s first_code

    def execute(self, code: str, timeout: float = 60.0, **kw) -> ExecuteResult:
        return self.channels.execute(code, timeout, **kw)

    def close(self, shutdown: bool = True) -> None:
        self.channels.close()
        if shutdown:
            self.client.shutdown_quietly(self.id)


class GatewayClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        auth: str = "header",
        timeout: float = 60.0,
        username: str | None = "eg-harness",
        launch_timeout: float = 60.0,
        hop: str = "gateway",
        start_watch: StartWatch | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.auth = auth
        self.username = username
        self.launch_timeout = launch_timeout
        self.hop = hop
        # On a cluster target: the kernel's pod, read while a start is pending (launch()).
        self.start_watch = start_watch
        self.http = httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self.created: list[str] = []

    # -- raw -----------------------------------------------------------------------------
    def _auth(self, token: Any, auth: str | None) -> tuple[dict[str, str], dict[str, str]]:
        token = self.token if token is _DEFAULT else token
        auth = auth or self.auth
        if token is None or auth == "none":
            return {}, {}
        if auth == "query":
            return {}, {"token": token}
        if auth == "header":
            return {"Authorization": f"token {token}"}, {}
        if auth == "bearer":
            return {"Authorization": f"Bearer {token}"}, {}
        if auth == "basic":
            return {"Authorization": f"Basic {token}"}, {}
        raise ValueError(f"unknown auth mode {auth!r}")

    def request(
        self,
        method: str,
        path: str,
        *,
        token: Any = _DEFAULT,
        auth: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        hdrs, params = self._auth(token, auth)
        hdrs.update(headers or {})
        kw: dict[str, Any] = {"headers": hdrs, "params": params}
        if json is not None:
            kw["json"] = json
        if timeout is not None:
            kw["timeout"] = timeout
        return self.http.request(method, self.base_url + path, **kw)

    def _call(self, method: str, path: str, expect: tuple[int, ...], **kw) -> httpx.Response:
        resp = self.request(method, path, **kw)
        if resp.status_code not in expect:
            raise GatewayHTTPError(method, path, resp.status_code, *error_text(resp))
        return resp

    # -- REST ----------------------------------------------------------------------------
    def api_info(self) -> dict[str, Any]:
        return self._call("GET", "/api", (200,)).json()

    def kernelspecs(self) -> dict[str, Any]:
        return self._call("GET", "/api/kernelspecs", (200,)).json()

    def kernelspec(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/kernelspecs/{quote(name)}", (200,)).json()

    def list_kernels(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/kernels", (200,)).json()

    def get_kernel(self, kernel_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/kernels/{kernel_id}", (200,)).json()

    def kernel_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """What a jupyter_server client sends: KERNEL_USERNAME and KERNEL_LAUNCH_TIMEOUT."""
        out: dict[str, str] = {"KERNEL_LAUNCH_TIMEOUT": str(int(self.launch_timeout))}
        if self.username:
            out["KERNEL_USERNAME"] = self.username
        out.update(env or {})
        return out

    def launch_timeout_for(self, env: dict[str, str] | None) -> float:
        """The launch timeout a start sending `env` gets: its KERNEL_LAUNCH_TIMEOUT, if any."""
        try:
            return max(self.launch_timeout, float((env or {})["KERNEL_LAUNCH_TIMEOUT"]))
        except (KeyError, ValueError):
            return self.launch_timeout

    def start_kernel(
        self, name: str | None = None, env: dict[str, str] | None = None, **kw
    ) -> dict[str, Any]:
        # Through a user server, KERNEL_* come from the server's own environment (that is what
        # is under test), so the harness sends only what a browser would: the kernel name.
        body: dict[str, Any] = (
            {} if self.hop == "hub" and env is None else {"env": self.kernel_env(env)}
        )
        if name:
            body["name"] = name
        # Never give up before the gateway does: a start the client abandons still completes on
        # the gateway, as a kernel nobody knows (seen under load: a 64 s Spark start, orphaned).
        kw.setdefault("timeout", self.launch_timeout_for(body.get("env")) + 30)
        model = self._call("POST", "/api/kernels", (201, 200), json=body, **kw).json()
        with self._lock:
            self.created.append(model["id"])
        return model

    def delete_kernel(self, kernel_id: str) -> None:
        self._call("DELETE", f"/api/kernels/{kernel_id}", (204,))
        with self._lock:
            if kernel_id in self.created:
                self.created.remove(kernel_id)

    def interrupt_kernel(self, kernel_id: str) -> None:
        self._call("POST", f"/api/kernels/{kernel_id}/interrupt", (204,))

    def restart_kernel(self, kernel_id: str) -> dict[str, Any]:
        return self._call("POST", f"/api/kernels/{kernel_id}/restart", (200,)).json()

    def shutdown_quietly(self, kernel_id: str) -> bool:
        """Best-effort delete for cleanup paths: True if the kernel is gone afterwards."""
        try:
            self.delete_kernel(kernel_id)
            return True
        except GatewayHTTPError as exc:
            if exc.status == 404:
                with self._lock:
                    if kernel_id in self.created:
                        self.created.remove(kernel_id)
                return True
            return False
        except httpx.HTTPError:
            return False

    def cleanup(self) -> list[str]:
        """Delete every kernel this client started and has not deleted; returns failures."""
        with self._lock:
            pending = list(self.created)
        return [k for k in pending if not self.shutdown_quietly(k)]

    # -- WebSocket -----------------------------------------------------------------------
    def ws_url(
        self,
        kernel_id: str,
        *,
        token: Any = _DEFAULT,
        auth: str | None = None,
        session_id: str | None = None,
    ) -> str:
        """The channels URL; `session_id` is what lets a server replay missed messages to a
        client that reconnects (JupyterLab sends it the same way)."""
        url = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        url = f"{url}/api/kernels/{kernel_id}/channels"
        _, params = self._auth(token, auth)
        if session_id:
            params = {**params, "session_id": session_id}
        return url + ("?" + urlencode(params) if params else "")

    def ws_headers(self, *, token: Any = _DEFAULT, auth: str | None = None) -> list[str]:
        hdrs, _ = self._auth(token, auth)
        return [f"{k}: {v}" for k, v in hdrs.items()]

    def channels(self, kernel_id: str, **kw) -> KernelChannels:
        token = kw.pop("token", _DEFAULT)
        auth = kw.pop("auth", None)
        kw.setdefault("username", self.username or "eg-harness")
        # EG 3.3 upgrades a kernel's WebSocket only once the kernel answers kernel_info: right
        # after a start that is part of the start, so it gets the start's bound (a kernel pod
        # on a loaded cluster took over 30 s once). A refusal still comes at once.
        kw.setdefault("connect_timeout", max(self.launch_timeout, 30.0))
        session = kw.pop("session", None) or uuid.uuid4().hex
        return KernelChannels(
            self.ws_url(kernel_id, token=token, auth=auth, session_id=session),
            headers=self.ws_headers(token=token, auth=auth),
            session=session,
            **kw,
        )

    def launch(
        self,
        name: str | None = None,
        env: dict[str, str] | None = None,
        *,
        first_code: str = "1+1",
        attrs: dict[str, Any] | None = None,
        span_name: str = "kernel_start",
    ) -> KernelHandle:
        """Start a kernel and prove it usable, recording each phase of the start as a span.

        A 201 is not a started kernel (EG may still be launching it): the span ends only when
        the kernel has answered an execute.
        """
        span = Span(span_name, {"kernelspec": name, "hop": self.hop, **(attrs or {})})
        span.mark("requested")
        kernel_id = None
        chans = None
        bound = self.launch_timeout_for(self.kernel_env(env) if env is not None else None)
        # Through a user server the harness sends no env (that is what is under test), so only
        # a start straight at the gateway names its kernel id up front and is watched.
        watch = self.start_watch if self.hop == "gateway" else None
        if watch is not None and not (env or {}).get("KERNEL_ID"):
            env = {**(env or {}), "KERNEL_ID": str(uuid.uuid4())}
        try:
            if watch is None:
                model = self.start_kernel(name, env)
            else:
                model = self._start_watched(name, env, watch)
            kernel_id = model["id"]
            span.attrs["kernelspec"] = model.get("name", name)
            span.mark("accepted")
            chans = self.channels(kernel_id, connect_timeout=bound)
            span.mark("channels_open")
            chans.wait_ready(bound)
            span.mark("kernel_info_reply")
            span.attrs["kernel_info_requests"] = chans.nudges
            res = chans.execute(first_code, timeout=bound)
            if res.status != "ok":
                raise AssertionError(f"first execute failed: {res.describe_error()}")
            span.mark("first_execute_reply")
        except BaseException as exc:
            recorder.record(span.finish(False, clip(redact(str(exc)), 500)))
            if chans is not None:
                chans.close()
            if kernel_id is not None:
                self.shutdown_quietly(kernel_id)
            raise
        recorder.record(span.finish(True))
        handle = KernelHandle(self, kernel_id, model.get("name", name or ""), chans, span, model)
        handle.first_result = res
        return handle

    def _start_watched(
        self, name: str | None, env: dict[str, str], watch: StartWatch
    ) -> dict[str, Any]:
        """start_kernel, with the kernel's pod read every POD_POLL_S while EG is silent: a pod
        that ended fails the start at once, a start EG refused is told with its pod's facts."""
        kernel_id = env["KERNEL_ID"]
        user = self.kernel_env(env).get("KERNEL_USERNAME")
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def post() -> None:
            try:
                outcome["model"] = self.start_kernel(name, env)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                outcome["error"] = exc
            finally:
                done.set()

        # A daemon thread: a start abandoned for its dead pod ends on EG's own timeout, and the
        # kernel, if EG ever answers 201, is in `created` for cleanup().
        threading.Thread(target=post, name=f"start-{kernel_id[:8]}", daemon=True).start()
        deadline = time.monotonic() + self.launch_timeout_for(self.kernel_env(env)) + 60
        while not done.wait(POD_POLL_S):
            story = watch.ended(kernel_id)
            if story is not None and not done.is_set():
                raise KernelStartFailed(
                    redact(f"kernel {kernel_id}'s pod ended before the kernel reported: {story}")
                )
            if time.monotonic() > deadline:  # the POST has its own timeout; a backstop
                raise KernelStartFailed(f"POST /api/kernels for {kernel_id} never returned")
        if "error" in outcome:
            exc = outcome["error"]
            story = watch.story(kernel_id, user) if isinstance(exc, HarnessError) else None
            if story:
                raise KernelStartFailed(redact(f"{exc}; on the cluster: {story}")) from exc
            raise exc
        return outcome["model"]

    def close(self) -> None:
        self.http.close()
