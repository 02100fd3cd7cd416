"""The operator's upgrade with live users, one component at a time, and what each user lost.

Stand up the stack at A; each user spawns a gateway-profile server, starts a python kernel
(and a Spark one when the target has Spark), sets a state marker in each and keeps a cell's
output streaming on an open WebSocket. Then each step does what an operator does (stop,
migrate, start the new release) while a prober per user keeps trying what a user would: run
a cell on the kernel they had, or start a new one when it is gone. After each step the facts
are gathered (what survived, what the user saw, how long until a cell ran again, what was left
orphaned) into a `StepFacts`; eg_harness.checks.upgrade judges them. Before the next step lost
sessions are rebuilt, so every step starts from users with live kernels.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
from eg_harness.checks.upgrade import StepFacts, UserFacts, orphaned_kernel_pods
from eg_harness.clients.gateway import GatewayClient, GatewayHTTPError
from eg_harness.clients.hub import HubClient
from eg_harness.errors import HarnessError
from eg_harness.k8s.client import Kube
from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import KernelChannels
from eg_harness.load.journeys import error_kind
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip, first_line
from eg_harness.runtime.versions import Versions
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.abilities import Ability, ClusterAccess, ComponentControl, ProcessView
from eg_harness.targets.base import Target
from eg_harness.targets.chartupgrade import ChartUpgrade
from eg_harness.upgrade.poller import GatewayPoller

STEPS = ("hub", "gateway", "gateway-persistent", "user-servers", "gateway-chart")
STEP_TEXT = {
    "hub": "JupyterHub: stop (SIGTERM), jupyterhub upgrade-db, start B",
    "gateway": "Enterprise Gateway: rolling restart to B (SIGTERM, B at the same address), "
    "session persistence off",
    "gateway-persistent": "Enterprise Gateway: restart with session persistence on "
    "(EG_KERNEL_SESSION_PERSISTENCE, standalone, file sessions)",
    "user-servers": "user servers: each user stops and starts their server, now on B",
    "gateway-chart": "Enterprise Gateway: helm upgrade of its chart to B (B's gateway image and "
    "kernelspecs, the same values and token; the Deployment's rolling update)",
}
# The ability each step needs of the target (user-servers needs only the hub).
STEP_NEEDS: dict[str, type[Ability] | None] = {
    "hub": ComponentControl,
    "gateway": ComponentControl,
    "gateway-persistent": ComponentControl,
    "user-servers": None,
    "gateway-chart": ChartUpgrade,
}
PERSISTENCE_ON = {"EG_KERNEL_SESSION_PERSISTENCE": "True", "EG_AVAILABILITY_MODE": "standalone"}
PERSISTENCE_OFF = {"EG_KERNEL_SESSION_PERSISTENCE": "False", "EG_AVAILABILITY_MODE": None}
# A cell whose output keeps streaming from a thread, so the kernel stays free for the user's
# next cells (a busy loop in the cell itself would queue every later request behind it).
TICK = "upgrade-tick"
STREAM_CODE = (
    "import threading, time\n"
    "def _upgrade_tick():\n"
    "    i = 0\n"
    "    while True:\n"
    f"        print('{TICK}', i, flush=True)\n"
    "        i += 1\n"
    "        time.sleep(0.5)\n"
    "threading.Thread(target=_upgrade_tick, daemon=True).start()\n"
)


def _said(exc: BaseException) -> str:
    """One line of what a user was told: the kind of failure and the first line of it."""
    lines = redact(str(exc)).splitlines() or [""]
    return f"{error_kind(exc)}: {clip(lines[0], 180)}".rstrip("; ")


class StepFailed(HarnessError, AssertionError):
    """An operator step could not be completed (a component did not come up on B)."""


@dataclass
class Plan:
    origin: Versions
    dest: Versions
    users: int = 1
    steps: tuple[str, ...] = STEPS
    spark: bool = True
    recover_timeout: float = 120.0  # how long a user may wait for a working cell per step
    cleanup_servers: bool = False  # JupyterHub.cleanup_servers: False in z2jh (the seed's chart)


@dataclass
class LiveKernel:
    kind: str  # "python" or "spark"
    id: str
    marker: str
    stream: KernelChannels | None = None
    stream_msg: str = ""
    last_output: float = 0.0  # monotonic time of the stream's last output
    closed: str | None = None  # how the streaming socket ended, if it did
    reader: threading.Thread | None = None

    def watch(self) -> None:
        """Read the streaming socket until it ends; the only reader of that socket."""

        def loop():
            chans = self.stream
            while chans is not None and self.closed is None:
                try:
                    frame = chans.recv(1.0)
                except Exception as exc:  # noqa: BLE001 - the end of the socket is the fact
                    self.closed = first_line(redact(str(exc)), 200) or type(exc).__name__
                    return
                # iopub reaches every socket of the kernel: the ticks are told by their text.
                text = (frame or {}).get("content", {}).get("text", "")
                if m.msg_type(frame or {}) == "stream" and TICK in text:
                    self.last_output = time.monotonic()

        self.reader = threading.Thread(target=loop, name=f"stream-{self.id[:8]}", daemon=True)
        self.reader.start()

    def stop_watching(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()
        self.closed = self.closed or "closed by the harness"
        if self.reader is not None:
            self.reader.join(5)


@dataclass
class UserSession:
    name: str
    token: str = ""
    server: GatewayClient | None = None
    started: str | None = None  # the hub's `started` of the server: a restart changes it
    kernels: list[LiveKernel] = field(default_factory=list)


class Upgrade:
    """One upgrade journey on a target that can stop and start its components."""

    def __init__(self, target: Target, plan: Plan, progress=print) -> None:
        if target.hub is None or target.gateway is None:
            raise HarnessError("the upgrade journey needs a gateway and a hub on the target")
        for step in plan.steps:
            need = STEP_NEEDS[step]
            if need is not None and target.ability(need) is None:
                raise HarnessError(f"step {step}: {need.missing}")
        self.target = target
        self.control = target.ability(ComponentControl)
        self.chart = target.ability(ChartUpgrade)
        self.notes: list[str] = []
        self.plan = plan
        self.say = progress
        self.hub = HubClient(target.hub.url, target.hub.api_token)
        self.users: list[UserSession] = []
        self.spark = plan.spark and target.spark is not None
        # The gateway's python kernelspec: python3 locally, python_kubernetes on a cluster.
        self.python = target.gateway.kernelspec or "python3"
        self.persistence = False

    # -- the users' side ---------------------------------------------------------------------
    def add_users(self) -> None:
        for i in range(self.plan.users):
            name = f"{self.target.hub.user_prefix}upgrade-{i}-{uuid.uuid4().hex[:5]}"
            self.hub.create_user(name)
            self.users.append(UserSession(name))

    def _server_started(self, user: UserSession) -> str | None:
        info = self.hub.get_user(user.name) or {}
        server = (info.get("servers") or {}).get("")
        return server.get("started") if server and server.get("ready") else None

    def establish(self, user: UserSession) -> None:
        """Bring the user back to: a running server, live kernels with markers, a stream."""
        if self._server_started(user) is None:
            hcfg = self.target.hub
            self.hub.spawn(user.name, hcfg.profile, dict(hcfg.user_options), timeout=120)
        user.started = self._server_started(user)
        if not user.token:
            user.token = self.hub.create_token(user.name, expires_in=4 * 3600)
        if user.server is None:
            user.server = self.hub.user_server(
                user.name, user.token, launch_timeout=self.target.gateway.launch_timeout
            )
        live = []
        for k in user.kernels:
            if k.closed is None and self._kernel_listed(user, k.id):
                live.append(k)
            else:
                k.stop_watching()
        user.kernels = live
        have = {k.kind for k in live}
        if "python" not in have:
            user.kernels.append(self._start_kernel(user, "python", self.python, stream=True))
        if self.spark and "spark" not in have:
            spec = self.target.spark.kernelspec
            user.kernels.append(self._start_kernel(user, "spark", spec, stream=False))

    def _start_kernel(self, user: UserSession, kind: str, spec: str, stream: bool) -> LiveKernel:
        assert user.server is not None
        client = user.server
        if kind == "spark":  # a JVM first: the Spark endpoint's own launch timeout
            client = self.hub.user_server(
                user.name, user.token, launch_timeout=self.target.spark.launch_timeout
            )
        try:
            handle = client.launch(spec, attrs={"journey": "upgrade", "kind": kind})
        finally:
            if client is not user.server:
                client.close()
        marker = uuid.uuid4().hex
        res = handle.execute(f"UPGRADE_MARKER = {marker!r}", timeout=60)
        if res.status != "ok":
            raise StepFailed(f"setting the state marker failed: {res.describe_error()}")
        handle.channels.close()
        k = LiveKernel(kind, handle.id, marker)
        if stream:
            k.stream = user.server.channels(handle.id, connect_timeout=30)
            k.stream.wait_ready(30)
            req = m.execute_request(STREAM_CODE, session=k.stream.session)
            k.stream.send(req)
            k.stream_msg = req["header"]["msg_id"]
            k.last_output = time.monotonic()
            k.watch()
        return k

    def _kernel_listed(self, user: UserSession, kernel_id: str) -> bool:
        assert user.server is not None
        try:
            user.server.get_kernel(kernel_id)
            return True
        except (GatewayHTTPError, httpx.HTTPError):
            return False

    def _state_kept(self, user: UserSession, k: LiveKernel) -> tuple[bool, str]:
        """Whether the kernel still holds its marker, asked over a fresh WebSocket."""
        assert user.server is not None
        try:
            with user.server.channels(k.id, connect_timeout=15) as chans:
                chans.wait_ready(30)
                res = chans.execute("print(UPGRADE_MARKER)", timeout=30)
        except Exception as exc:  # noqa: BLE001 - what the user would have seen
            return False, f"{error_kind(exc)}: {first_line(redact(str(exc)), 160)}"
        if res.status == "ok" and k.marker in res.stdout:
            return True, ""
        return False, res.describe_error()

    # -- the prober: what a user experiences during the step ---------------------------------
    def _probe(self, user: UserSession, t0: float, done: threading.Event, out: UserFacts) -> None:
        """Keep trying a cell: on the kernel the user had, or on a new one once it is gone,
        until the operator's step is done and a cell worked after it (or the bound ends)."""
        client = self.hub.user_server(
            user.name, user.token, launch_timeout=self.target.gateway.launch_timeout, timeout=20
        )
        python = next((k for k in user.kernels if k.kind == "python"), None)
        deadline_after_done: float | None = None
        try:
            while True:
                now = time.monotonic()
                if done.is_set() and deadline_after_done is None:
                    deadline_after_done = now + self.plan.recover_timeout
                if deadline_after_done is not None and now > deadline_after_done:
                    out.recovered_s = None
                    return
                seen: list[str] = []
                try:
                    how = self._one_cell(client, python, seen)
                    for text in seen:
                        if text not in out.errors:
                            out.errors.append(text)
                    if seen and out.first_error_s is None:
                        out.first_error_s = time.monotonic() - t0
                        out.recovered_s = None
                    if out.first_error_s is not None and out.recovered_s is None:
                        out.recovered_s = time.monotonic() - t0
                        out.recovered_by = how
                    if done.is_set():
                        if out.first_error_s is None:
                            out.recovered_s = 0.0
                            out.recovered_by = how
                        return
                except Exception as exc:  # noqa: BLE001 - every failure is a fact to record
                    for text in seen:
                        if text not in out.errors:
                            out.errors.append(text)
                    if out.first_error_s is None:
                        out.first_error_s = time.monotonic() - t0
                    out.recovered_s = None
                    text = _said(exc)
                    if text not in out.errors:
                        out.errors.append(text)
                done.wait(0.5)
        finally:
            client.cleanup()
            client.close()

    def _one_cell(self, client: GatewayClient, python: LiveKernel | None, seen: list[str]) -> str:
        """What a user does: a cell on the kernel they had; when that fails (gone, or there
        but not answering), a new kernel. Failures on the old kernel go to `seen`."""
        if python is not None:
            try:
                client.get_kernel(python.id)
                with client.channels(python.id, connect_timeout=10) as chans:
                    chans.wait_ready(10)
                    res = chans.execute("1+1", timeout=10)
                if res.status != "ok":
                    raise RuntimeError(f"execute failed: {res.describe_error()}")
                return "the same kernel"
            except Exception as exc:  # noqa: BLE001 - the user gives up on it, as we do
                seen.append(f"old kernel: {_said(exc)}")
        handle = client.launch(self.python, attrs={"journey": "upgrade-probe"})
        handle.close()
        return "a new kernel"

    # -- the operator's side -------------------------------------------------------------------
    def _versions_after(self, step: str) -> Versions:
        cur, dest = self.target.stack_versions, self.plan.dest
        if step == "hub":
            return Versions(cur.gateway, dest.hub, dest.jupyter_server, dest.jupyterlab)
        if step.startswith("gateway"):
            return Versions(dest.gateway, cur.hub, cur.jupyter_server, cur.jupyterlab)
        return cur

    def _operate(self, step: str) -> list[str]:
        """Do the step; returns what the stopped component left running."""
        after = self._versions_after(step)
        if step == "hub":
            stop = self.control.stop_component("hub", sig=signal.SIGTERM)
            self.control.start_component("hub", versions=after, upgrade_db=True, progress=self.say)
            return stop.outlived
        if step in ("gateway", "gateway-persistent"):
            env = PERSISTENCE_ON if step == "gateway-persistent" else PERSISTENCE_OFF
            stop = self.control.stop_component("gateway", sig=signal.SIGTERM)
            self.control.start_component("gateway", versions=after, env=env, progress=self.say)
            return stop.outlived
        if step == "gateway-chart":
            assert self.chart is not None
            self.notes = self.chart.upgrade_chart(after.gateway, progress=self.say)
            return []  # no processes to outlive it: orphaned kernel pods are _orphans'
        if step == "user-servers":
            for user in self.users:
                self.hub.stop_server(user.name, timeout=60)
                hcfg = self.target.hub
                self.hub.spawn(user.name, hcfg.profile, dict(hcfg.user_options), timeout=120)
            return []
        raise ValueError(f"unknown step {step!r}: choose from {', '.join(STEPS)}")

    def prepare(self, step: str) -> None:
        """What must hold before the step: persistence on for the persistent restart; B's
        images on the cluster before a chart upgrade (an operator pushes them first)."""
        if step == "gateway-chart":
            assert self.chart is not None
            self.chart.stage_release(self.plan.dest.gateway, progress=self.say)
        elif step == "gateway-persistent" and not self.persistence:
            self.say("turning session persistence on (a gateway restart before the step)")
            self.control.stop_component("gateway")
            self.control.start_component("gateway", env=PERSISTENCE_ON, progress=self.say)
            self.persistence = True
        elif step == "gateway":
            self.persistence = False

    def run_step(self, step: str) -> StepFacts:
        before_versions = self.target.stack_versions
        try:
            self.prepare(step)
            for user in self.users:
                self.establish(user)
        except Exception as exc:  # noqa: BLE001 - the step cannot be measured; say why
            return StepFacts(
                step=step,
                action=STEP_TEXT[step],
                from_versions=before_versions.label(),
                to_versions=self.target.stack_versions.label(),
                step_error=f"users' sessions could not be set up before the step: "
                f"{clip(redact(str(exc)), 1200)}",
            )
        facts = StepFacts(
            step=step,
            action=STEP_TEXT[step],
            from_versions=before_versions.label(),
            users=len(self.users),
            kernels=sum(len(u.kernels) for u in self.users),
            websockets=sum(1 for u in self.users for k in u.kernels if k.stream is not None),
            persistence=step == "gateway-persistent",
            cleanup_servers=self.plan.cleanup_servers,
        )
        self.say(f"step {step}: {STEP_TEXT[step]}")
        gw = self.target.gateway
        poller = GatewayPoller(gw.url, gw.token or "").start()
        self.notes = []
        t0 = time.monotonic()
        done = threading.Event()
        probes = []
        for user in self.users:
            uf = UserFacts(user=user.name)
            facts.per_user.append(uf)
            th = threading.Thread(target=self._probe, args=(user, t0, done, uf), daemon=True)
            th.start()
            probes.append(th)
        try:
            facts.outlived = self._operate(step)
        except Exception as exc:
            facts.step_error = clip(redact(str(exc)), 1500)
        facts.operator_s = time.monotonic() - t0
        done.set()
        for th in probes:
            th.join(self.plan.recover_timeout + 90)
        down = poller.stop()  # through the step and the users' recovery
        facts.gateway_polls, facts.gateway_polls_failed = down.polls, down.failed
        facts.gateway_downtime_s = round(down.longest_s, 2)
        facts.gateway_poll_errors = down.errors
        facts.notes = list(self.notes)
        facts.to_versions = self.target.stack_versions.label()
        if facts.step_error is None:
            self._observe(facts, t0)
        self.say(f"step {step} done in {facts.operator_s:.1f}s")
        return facts

    def _observe(self, facts: StepFacts, t0: float) -> None:
        for user, uf in zip(self.users, facts.per_user, strict=True):
            started = self._server_started(user)
            uf.server_kept = started is not None and started == user.started
            with contextlib.suppress(Exception):
                assert user.server is not None
                uf.server_version = str(user.server.api_info().get("version"))
            uf.route_kept = self._route_works(user)
            for k in user.kernels:
                listed = self._kernel_listed(user, k.id)
                uf.kernels_kept += int(listed)
                if listed:
                    kept, why = self._state_kept(user, k)
                    uf.state_kept += int(kept)
                    if not kept and why:
                        uf.errors.append(f"state of the {k.kind} kernel: {why}")
                if k.stream is not None:
                    flowing = k.closed is None and k.last_output > t0 + facts.operator_s
                    if not flowing and listed:
                        # One more look: output may be a moment late after a slow step. (A
                        # kernel the gateway no longer lists has no output left to send.)
                        with contextlib.suppress(Exception):
                            wait_for(
                                "the stream to flow",
                                lambda k=k: (
                                    k.closed is None and k.last_output > t0 + facts.operator_s
                                ),
                                5,
                            )
                        flowing = k.closed is None and k.last_output > t0 + facts.operator_s
                    uf.websockets_kept += int(flowing)
                    if not flowing:
                        uf.websocket_end = k.closed or "open, but no output arrives (silent)"
        facts.orphans = self._orphans()

    def _route_works(self, user: UserSession) -> bool:
        try:
            r = httpx.get(
                f"{self.hub.user_url(user.name)}/api/status",
                headers={"Authorization": f"token {user.token}"},
                timeout=10,
            )
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    def _orphans(self) -> list[str]:
        """Kernel processes (or, on a cluster, kernel pods) the gateway no longer knows, and
        user servers the hub no longer runs: left by the step."""
        if self.target.ability(ClusterAccess) is not None:
            return self._orphan_pods()
        view = self.target.ability(ProcessView)
        if view is None:
            return []
        gw = self.target.gateway.client()
        try:
            known = {k["id"] for k in gw.list_kernels()}
        except Exception:  # noqa: BLE001 - no list: nothing can be called orphaned
            return []
        finally:
            gw.close()
        running = {u.name for u in self.users if self._server_started(u)}
        out = []
        for p in view.run_processes():
            try:
                cmd = " ".join(p.cmdline())
                env = p.environ()
            except Exception:  # noqa: BLE001 - gone meanwhile
                continue
            if "kernel-" in cmd and ".json" in cmd and "launch_kernel" not in cmd:
                kid = cmd.split("kernel-", 1)[1].split(".json", 1)[0]
                if kid not in known:
                    out.append(f"kernel {kid[:8]} (pid {p.pid}) unknown to the gateway")
            user = env.get("JUPYTERHUB_USER")
            if user and "singleuser" in cmd and user not in running:
                out.append(f"user server of {user} (pid {p.pid}) the hub does not run")
        return out

    def _orphan_pods(self) -> list[str]:
        """Kernel pods whose kernel the gateway does not know (EG #1086), asked kernel by kernel:
        the chart's gateway does not list kernels (EG_LIST_KERNELS unset)."""
        cluster = self.target.ability(ClusterAccess)
        assert cluster is not None
        kube = Kube(cluster.kubernetes())
        gw = self.target.gateway.client()
        try:
            pods = kube.pods_named("")  # every pod labelled component=kernel
            known = set()
            for kid in {(p.metadata.labels or {}).get("kernel_id") for p in pods} - {None}:
                try:
                    gw.get_kernel(kid)
                    known.add(kid)
                except GatewayHTTPError as exc:
                    if exc.status != 404:
                        known.add(kid)  # not a clear "unknown": never called orphaned
                except httpx.HTTPError:
                    known.add(kid)
            return orphaned_kernel_pods(pods, known)
        finally:
            gw.close()
            kube.close()

    # -- the whole journey ---------------------------------------------------------------------
    def run(self) -> list[StepFacts]:
        results: list[StepFacts] = []
        self.add_users()
        for step in self.plan.steps:
            facts = self.run_step(step)
            results.append(facts)
            if facts.step_error is not None:
                break  # the stack is not on B: later steps would measure nothing real
        return results

    def close(self) -> None:
        for user in self.users:
            for k in user.kernels:
                k.stop_watching()
            if user.server is not None:
                with contextlib.suppress(Exception):
                    for k in user.kernels:
                        user.server.shutdown_quietly(k.id)
                user.server.close()
            with contextlib.suppress(Exception):
                self.hub.remove_user(user.name, timeout=60)
        self.hub.close()
