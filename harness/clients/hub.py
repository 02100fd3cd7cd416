"""JupyterHub REST client: users, tokens, servers with a profile, and the spawn progress stream.

Plain HTTP against the public (proxy) URL, as zero-to-jupyterhub's tests do, so the proxy's
routing is part of every check.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
from eg_harness.clients.gateway import GatewayClient, GatewayHTTPError, error_text
from eg_harness.runtime.secrets import register
from eg_harness.runtime.text import clip
from eg_harness.runtime.timing import Span, recorder
from eg_harness.runtime.waits import wait_for

_DEFAULT = object()


class SpawnFailed(GatewayHTTPError):
    """The hub reported the spawn as failed, or it never became ready."""


class HubClient:
    def __init__(self, url: str, api_token: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_token = api_token
        self.http = httpx.Client(timeout=timeout)

    def request(
        self, method: str, path: str, *, token: Any = _DEFAULT, json: Any = None, **kw
    ) -> httpx.Response:
        token = self.api_token if token is _DEFAULT else token
        headers = {"Authorization": f"token {token}"} if token else {}
        if json is not None:
            kw["json"] = json
        return self.http.request(method, f"{self.url}/hub/api{path}", headers=headers, **kw)

    def _call(self, method: str, path: str, expect: tuple[int, ...], **kw) -> httpx.Response:
        resp = self.request(method, path, **kw)
        if resp.status_code not in expect:
            raise GatewayHTTPError(method, f"/hub/api{path}", resp.status_code, *error_text(resp))
        return resp

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/", (200,)).json()

    # -- users and tokens --------------------------------------------------------------------
    def create_user(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/users/{quote(name)}", (201,)).json()

    def get_user(self, name: str) -> dict[str, Any] | None:
        resp = self.request("GET", f"/users/{quote(name)}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise GatewayHTTPError("GET", f"/users/{name}", resp.status_code, *error_text(resp))
        return resp.json()

    def delete_user(self, name: str) -> None:
        self._call("DELETE", f"/users/{quote(name)}", (204, 404))

    def remove_user(self, name: str, *, timeout: float = 60.0) -> None:
        """Stop the user's server if it runs, then delete the user. A server that will not stop
        must not keep a throw-away user alive, so only the deletion's failure is raised.

        A stop still under way when `timeout` ends makes the hub refuse the deletion (400,
        "in the process of stopping"): seen on the node cluster under CI's load, a user pod
        whose stop (its kernels' shutdown, the pod's grace period) outlasted 60 s. The
        deletion then waits once more for the stop, as long again, and retries."""
        with contextlib.suppress(Exception):
            self.stop_server(name, timeout=timeout)
        try:
            self.delete_user(name)
        except GatewayHTTPError as exc:
            if exc.status != 400 or "stopping" not in exc.server_message:
                raise
            wait_for(f"{name}'s server to finish stopping", lambda: self._stopped(name), timeout)
            self.delete_user(name)

    def create_token(
        self, user: str, scopes: list[str] | None = None, *, expires_in: int = 3600
    ) -> str:
        """A token as the user would hold it; registered for redaction the moment it exists."""
        body: dict[str, Any] = {"expires_in": expires_in, "note": "eg-harness run"}
        if scopes is not None:
            body["scopes"] = scopes
        token = self._call("POST", f"/users/{quote(user)}/tokens", (200, 201), json=body).json()[
            "token"
        ]
        register(token)
        return token

    # -- servers -----------------------------------------------------------------------------
    def start_server(
        self, user: str, profile: str | None = None, user_options: dict[str, Any] | None = None
    ) -> int:
        options = dict(user_options or {})
        if profile:
            options["profile"] = profile
        # The options as the whole body: JupyterHub 4 (z2jh 3.2.1's hub) takes the body as the
        # user_options, and reads {"user_options": {...}} as one unknown option (KubeSpawner then
        # spawns the default profile with its default choices, silently); JupyterHub 6 reads a
        # body without "user_options" or "display_name" keys the same way.
        resp = self._call("POST", f"/users/{quote(user)}/server", (201, 202), json=options)
        return resp.status_code

    def progress(self, user: str, timeout: float) -> list[dict[str, Any]]:
        """Read the spawn progress stream to its end: `ready` or `failed`, within `timeout`."""
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        url = f"{self.url}/hub/api/users/{quote(user)}/server/progress"
        headers = {"Authorization": f"token {self.api_token}", "Accept": "text/event-stream"}
        with self.http.stream(
            "GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=timeout)
        ) as resp:
            if resp.status_code != 200:
                resp.read()
                path = f"/users/{user}/server/progress"
                raise SpawnFailed("GET", path, resp.status_code, *error_text(resp))
            for line in resp.iter_lines():
                if time.monotonic() > deadline:
                    break
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:].strip())
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    return events
        return events

    def spawn(
        self,
        user: str,
        profile: str | None,
        user_options: dict[str, Any] | None = None,
        *,
        timeout: float = 120.0,
    ) -> Span:
        """Start the user's server and wait for the hub to call it ready; the span has phases."""
        span = Span("server_spawn", {"profile": profile or "", **(user_options or {})})
        span.mark("requested")
        try:
            self.start_server(user, profile, user_options)
            span.mark("accepted")
            events = self.progress(user, timeout)
            last = events[-1] if events else {}
            if not last.get("ready"):
                message = last.get("message") or "the progress stream ended without ready"
                raise SpawnFailed("POST", f"/users/{user}/server", 0, "spawn failed", message)
            span.mark("ready")
        except BaseException as exc:
            recorder.record(span.finish(False, clip(str(exc), 500)))
            raise
        recorder.record(span.finish(True))
        return span

    def stop_server(self, user: str, timeout: float = 60.0) -> None:
        resp = self.request("DELETE", f"/users/{quote(user)}/server")
        if resp.status_code not in (202, 204, 400, 404):
            path = f"/users/{user}/server"
            raise GatewayHTTPError("DELETE", path, resp.status_code, *error_text(resp))

        wait_for(f"{user}'s server to stop", lambda: self._stopped(user), timeout)

    def _stopped(self, user: str) -> bool:
        info = self.get_user(user)
        return info is None or not (info.get("servers") or {}).get("", None)

    def user_url(self, user: str) -> str:
        return f"{self.url}/user/{quote(user)}"

    def user_server(self, user: str, token: str | None, **kw) -> GatewayClient:
        """The user's single-user server, as a kernel REST client (the hub hop)."""
        kw.setdefault("hop", "hub")
        kw.setdefault("username", None)  # the user server decides KERNEL_USERNAME, not us
        return GatewayClient(self.user_url(user), token, **kw)

    def close(self) -> None:
        self.http.close()
