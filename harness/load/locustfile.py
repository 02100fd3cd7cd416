"""Locust users that run the harness's own journeys (journeys.py) against a target.

Only ever loaded by locust in a subprocess (runner.py starts it): importing locust
monkey-patches the standard library with gevent, which the harness process must never get.

Each phase of a journey becomes a locust request whose type is the phase and whose name is the
journey kind, so locust's CSVs and HTML have a row per phase; the same events are appended as
JSON lines to events-<pid>.jsonl for the harness's exact percentiles and timelines.

Modes (EGH_LOAD_CONFIG's "mode"):
- storm: every user waits until all `users` have started, runs one journey at the same moment,
  then stops; the run ends when all journeys are done (local runner only).
- churn: users run journeys back to back until locust's --run-time ends (works with workers).
"""

from __future__ import annotations

import json
import os
import time

import gevent
from eg_harness.clients.gateway import GatewayClient
from eg_harness.clients.hub import HubClient
from eg_harness.load.journeys import PhaseEvent, gateway_journey, hub_journey
from eg_harness.runtime.secrets import register
from locust import User, constant, events, task
from locust.exception import StopUser

with open(os.environ["EGH_LOAD_CONFIG"]) as _fh:
    CONF = json.load(_fh)
# Error texts in events are redacted like the harness's own: this process must know the tokens.
register(CONF["gateway"]["token"])
register((CONF.get("hub") or {}).get("api_token"))
# Kept open for the life of the locust process; closed on locust's quitting event.
_events_file = open(  # noqa: SIM115
    os.path.join(CONF["events_dir"], f"events-{os.getpid()}.jsonl"), "a"
)
_started = 0
_finished = 0


def _emitter(environment):
    def emit(ev: PhaseEvent) -> None:
        _events_file.write(json.dumps(ev.to_dict()) + "\n")
        _events_file.flush()
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

    @task
    def journey(self) -> None:
        global _finished
        try:
            if CONF["journey"] == "hub":
                hub = CONF["hub"]
                hub_journey(
                    self.hub,
                    prefix=hub["user_prefix"],
                    profile=hub["profile"],
                    user_options=hub["user_options"],
                    kernelspec=CONF["kernelspec"],
                    emit=self.emit,
                    spawn_timeout=hub["spawn_timeout"],
                    launch_timeout=CONF["gateway"]["launch_timeout"],
                )
            else:
                gateway_journey(self.gateway, CONF["kernelspec"], self.emit)
        except Exception:
            pass  # the failed phase was already reported as an event
        if CONF["mode"] == "storm":
            _finished += 1
            if _finished >= CONF["users"]:
                gevent.spawn_later(0.1, self.environment.runner.quit)
            raise StopUser()


@events.quitting.add_listener
def _close_events(environment, **_kw) -> None:
    _events_file.close()
