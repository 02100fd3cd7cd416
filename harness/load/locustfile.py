"""Locust users that run the harness's own journeys (journeys.py) against a target.

Only ever loaded by locust in a subprocess (runner.py starts it): importing locust
monkey-patches the standard library with gevent, which the harness process must never get.

Each phase of a journey becomes a locust request whose type is the phase and whose name is the
journey kind, so locust's CSVs and HTML have a row per phase; the same events are appended as
JSON lines to events-<pid>.jsonl for the harness's exact percentiles and timelines.

A worker sends its events to the master over locust's own messages ("egh_event"), and the
master appends them to its file: workers on other machines or pods (clusters/incluster/) have
no file system in common with the master.

Modes (EGH_LOAD_CONFIG's "mode"):
- storm: every user waits until all `users` have started, runs one journey at the same moment,
  then stops; the run ends when all journeys are done (local runner only).
- churn: users run journeys back to back for "run_seconds" (locust's --run-time when alone;
  with workers, the master stops them itself and waits for their journeys in hand).
- workload: users arrive at the workload file's rate (locust's spawn rate); each picks a
  profile by weight, starts a kernel and works through the notebook (journeys.Notebook) until
  the event's end; a user whose session failed starts a new one, as a person would reload.
"""

from __future__ import annotations

import json
import os
import random
import re
import time

import gevent
from eg_harness.clients.gateway import GatewayClient
from eg_harness.clients.hub import HubClient
from eg_harness.load.journeys import Notebook, PhaseEvent, gateway_journey, hub_journey
from eg_harness.runtime.secrets import register
from locust import User, constant, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

with open(os.environ["EGH_LOAD_CONFIG"]) as _fh:
    CONF = json.load(_fh)
# Error texts in events are redacted like the harness's own: this process must know the tokens.
register(CONF["gateway"]["token"])
register((CONF.get("hub") or {}).get("api_token"))
# One file per producing process: this one's, and on a master one per worker (by locust's node
# id). Kept open for the life of the locust process; closed on locust's quitting event.
_events_files: dict[str, object] = {}
_started = 0
_finished = 0
_deadline: float | None = None  # workload: the event's end, from the first user's arrival


def _write(event: dict, producer: str | None = None) -> None:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", producer or str(os.getpid()))
    fh = _events_files.get(name)
    if fh is None:
        path = os.path.join(CONF["events_dir"], f"events-{name}.jsonl")
        fh = _events_files[name] = open(path, "a")  # noqa: SIM115 - closed on quitting
    fh.write(json.dumps(event) + "\n")
    fh.flush()


@events.init.add_listener
def _receive_worker_events(environment, **_kw) -> None:
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(
            "egh_event", lambda msg, **_: _write(msg.data, f"worker-{msg.node_id}")
        )


@events.test_start.add_listener
def _bound_a_run_with_workers(environment, **_kw) -> None:
    """A master ends its run itself (runner.py passes no -t): `stop()` lets every worker finish
    the journey in hand (the stop timeout) and waits until they report stopped, so their last
    events have arrived; only then does it quit. Locust's -t would quit at once and lose them."""
    if not isinstance(environment.runner, MasterRunner):
        return

    def stop_then_quit() -> None:
        gevent.sleep(CONF["run_seconds"])
        environment.runner.stop()
        environment.runner.quit()

    gevent.spawn(stop_then_quit)


def _emitter(environment):
    def emit(ev: PhaseEvent) -> None:
        if isinstance(environment.runner, WorkerRunner):
            environment.runner.send_message("egh_event", ev.to_dict())
        else:
            _write(ev.to_dict())
        environment.events.request.fire(
            request_type=ev.phase,
            name=ev.kind,
            response_time=ev.seconds * 1000,
            response_length=0,
            exception=None if ev.ok else RuntimeError(ev.error_kind or "error"),
            context={},
        )

    return emit


class JourneyUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        global _started
        self.emit = _emitter(self.environment)
        gw = CONF["gateway"]
        self.gateway = GatewayClient(
            gw["url"], gw["token"], launch_timeout=gw["launch_timeout"], username=gw["username"]
        )
        self.hub = (
            HubClient(CONF["hub"]["url"], CONF["hub"]["api_token"]) if CONF.get("hub") else None
        )
        _started += 1
        if CONF["mode"] == "workload":
            global _deadline
            if _deadline is None:
                _deadline = time.time() + CONF["workload"]["duration_s"]
            # One stream of choices per user, from the file's seed: reruns choose alike.
            self.rng = random.Random(f"{CONF['workload']['seed']}-{_started}-{os.getpid()}")
        if CONF["mode"] == "storm":
            # A storm is N requests at once: hold every user until the last one is spawned.
            deadline = time.monotonic() + CONF["storm_gather_timeout"]
            while _started < CONF["users"] and time.monotonic() < deadline:
                gevent.sleep(0.01)

    def on_stop(self) -> None:
        self.gateway.cleanup()  # a kernel whose shutdown phase failed is retried here
        self.gateway.close()
        if self.hub is not None:
            self.hub.close()

    def _session(self) -> tuple[str | None, dict, dict, Notebook | None]:
        """kernelspec, KERNEL_* env, hub user_options and notebook of the next journey."""
        wl = CONF.get("workload")
        if CONF["mode"] != "workload" or not wl:
            return CONF["kernelspec"], {}, {}, None
        if time.time() >= _deadline:
            raise StopUser()  # the event is over: no new session
        profiles = wl["profiles"]
        p = self.rng.choices(profiles, weights=[x["weight"] for x in profiles])[0]
        notebook = Notebook(wl["notebook"], _deadline, self.rng)
        return p["kernelspec"] or CONF["kernelspec"], p["env"], p["user_options"], notebook

    @task
    def journey(self) -> None:
        global _finished
        kernelspec, env, options, notebook = self._session()
        try:
            if CONF["journey"] == "hub":
                hub = CONF["hub"]
                hub_journey(
                    self.hub,
                    prefix=hub["user_prefix"],
                    profile=hub["profile"],
                    user_options={**hub["user_options"], **options},
                    kernelspec=kernelspec,
                    emit=self.emit,
                    spawn_timeout=hub["spawn_timeout"],
                    launch_timeout=CONF["gateway"]["launch_timeout"],
                    notebook=notebook,
                )
            else:
                gateway_journey(
                    self.gateway, kernelspec, self.emit, env=env or None, notebook=notebook
                )
        except Exception:
            # The failed phase was already reported as an event. A person whose notebook failed
            # pauses before trying again, rather than hammering the gateway.
            if notebook is not None:
                gevent.sleep(self.rng.uniform(*notebook.think))
        if CONF["mode"] == "storm":
            _finished += 1
            if _finished >= CONF["users"]:
                gevent.spawn_later(0.1, self.environment.runner.quit)
            raise StopUser()


@events.quitting.add_listener
def _close_events(environment, **_kw) -> None:
    for fh in _events_files.values():
        fh.close()
