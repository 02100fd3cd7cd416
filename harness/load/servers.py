"""What the servers say about themselves during a bench, sampled beside the client's spans.

A client's latency says that a user waited; the servers' own figures say why: the gateway at
a full core, kernels' memory, a file-descriptor count closing in on a limit, the hub's spawn
histogram and how many servers it ran. Sampled once per `interval` in a thread:

- processes (local target, through the ProcessView ability): every component and its
  descendants, grouped as gateway, kernels (the gateways' children), hub, user servers (the
  hub's children) and proxy: CPU (cores since the previous sample), memory (RSS), open file
  descriptors, and the TCP connections of the components themselves (not the kernels': one
  /proc/net walk per kernel per second would cost more than it tells);
- JupyterHub's /hub/metrics (any target with a hub whose token has read:metrics).

An existing target exposes no processes; its samples are what its endpoints say, and the
notes say what could not be seen.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
from eg_harness.clients import metrics as prom
from eg_harness.report.model import (
    GroupPeak,
    GroupSample,
    HistogramFigure,
    HubMetrics,
    ServerMetrics,
)
from eg_harness.runtime.text import clip
from eg_harness.targets.abilities import ProcessView
from eg_harness.targets.base import Target

INTERVAL_S = 1.0
HUB_HISTOGRAMS = (
    "jupyterhub_server_spawn_duration_seconds",
    "jupyterhub_request_duration_seconds",
    "jupyterhub_proxy_add_duration_seconds",
    "jupyterhub_server_stop_seconds",
)
CHILD_GROUP = {"gateway": "kernels", "hub": "user servers"}


def group_of(component: str) -> str | None:
    """The group a component belongs to; None for what is not a server (locust, a fault
    proxy in front of the gateway)."""
    if component == "gateway" or component.startswith("gateway-"):
        return "gateway"
    if component in ("hub", "proxy"):
        return component
    return None


class ServerSampler:
    def __init__(
        self, target: Target, interval: float = INTERVAL_S, spawn_limit: int | None = None
    ):
        self.target = target
        self.interval = interval
        self.view = target.ability(ProcessView)
        self.hub = target.hub
        self.t0 = time.time()
        self.samples: list[GroupSample] = []
        self.hub_first: dict | None = None
        self.hub_last: dict | None = None
        self.hub_series: dict[str, list[list[float]]] = defaultdict(list)
        self.hub_errors: list[str] = []
        self.hub_scrapes = 0
        self.hub_last_text: str | None = None  # the last scrape, kept for diagnostics
        self.spawn_limit = spawn_limit
        self._cpu: dict[int, float] = {}
        self._at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="server-sampler", daemon=True)

    def __enter__(self) -> ServerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while True:
            try:
                self.sample_once()
            except Exception as exc:  # a sampler must never end the bench it watches
                self.hub_errors.append(clip(f"sampler: {type(exc).__name__}: {exc}", 300))
            if self._stop.wait(self.interval):  # a sampling period, not a wait for a state
                self.sample_once()
                return

    # -- one sample --------------------------------------------------------------------------
    def sample_once(self) -> None:
        now = time.time()
        if self.view is not None:
            self._sample_processes(now)
        if self.hub is not None:
            self._sample_hub(now)
        self._at = now

    def _sample_processes(self, now: float) -> None:
        dt = (now - self._at) if self._at else None
        acc: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"cpu": 0.0, "rss": 0.0, "fds": 0, "conns": 0, "n": 0}
        )
        seen: dict[int, float] = {}
        for name, pid in self.view.component_pids().items():
            group = group_of(name)
            if group is None:
                continue
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                members = [(proc, group, True)] + [
                    (c, CHILD_GROUP.get(group, group), False) for c in proc.children(recursive=True)
                ]
                for p, g, own in members:
                    with contextlib.suppress(psutil.Error):
                        with p.oneshot():
                            t = p.cpu_times()
                            cpu = t.user + t.system
                            rss = p.memory_info().rss
                            fds = p.num_fds()
                        a = acc[g]
                        if dt:
                            a["cpu"] += max(cpu - self._cpu.get(p.pid, cpu), 0.0) / dt
                        seen[p.pid] = cpu
                        a["rss"] += rss
                        a["fds"] += fds
                        a["n"] += 1
                        if own:
                            a["conns"] += len(p.net_connections(kind="tcp"))
        self._cpu = seen
        t = round(now - self.t0, 3)
        for g, a in sorted(acc.items()):
            self.samples.append(
                GroupSample(
                    t=t,
                    group=g,
                    cpu_cores=round(a["cpu"], 3) if dt else None,
                    rss_mb=round(a["rss"] / 2**20, 1),
                    fds=a["fds"],
                    connections=a["conns"] if g in ("gateway", "hub", "proxy") else None,
                    processes=a["n"],
                )
            )

    def _sample_hub(self, now: float) -> None:
        try:
            text = prom.fetch(f"{self.hub.url}/hub/metrics", self.hub.api_token)
            got = prom.parse(text)
        except (prom.MetricsError, ValueError) as exc:
            if len(self.hub_errors) < 5:
                self.hub_errors.append(str(exc))
            return
        self.hub_scrapes += 1
        self.hub_last_text = text
        if self.hub_first is None:
            self.hub_first = got
        self.hub_last = got
        t = round(now - self.t0, 3)
        d = prom.delta(got, self.hub_first)
        self.hub_series["running_servers"].append(
            [t, prom.value(got, "jupyterhub_running_servers")]
        )
        for status in ("success", "failure"):
            self.hub_series[f"spawns_{status}"].append(
                [t, prom.value(d, "jupyterhub_server_spawn_duration_seconds_count", status=status)]
            )
        self.hub_series["spawns_throttled"].append(
            [
                t,
                prom.value(d, "jupyterhub_server_spawn_duration_seconds_count", reason="throttled"),
            ]
        )
        self.hub_series["requests"].append(
            [t, prom.value(d, "jupyterhub_request_duration_seconds_count")]
        )

    def save_last_scrape(self, diagnostics: Path) -> None:
        """The hub's last /hub/metrics text beside the logs: what the figures came from."""
        if self.hub_last_text is not None:
            diagnostics.mkdir(parents=True, exist_ok=True)
            (diagnostics / "hub-metrics.txt").write_text(self.hub_last_text)

    # -- the result ------------------------------------------------------------------------------
    def result(self) -> ServerMetrics:
        notes = []
        if self.view is None:
            notes.append("processes not visible on this target (no ProcessView): no CPU, memory")
        hub = None
        if self.hub is not None:
            figures = []
            if self.hub_first is not None and self.hub_last is not None:
                d = prom.delta(self.hub_last, self.hub_first)
                for family in HUB_HISTOGRAMS:
                    figures += [HistogramFigure(**h) for h in prom.histograms(d, family)]
            hub = HubMetrics(
                url=f"{self.hub.url}/hub/metrics",
                scrapes=self.hub_scrapes,
                errors=self.hub_errors,
                series=dict(self.hub_series),
                histograms=figures,
                concurrent_spawn_limit=self.spawn_limit,
            )
        return ServerMetrics(
            interval_s=self.interval,
            t0_epoch=self.t0,
            source="ProcessView of the target (psutil)" if self.view else "endpoints only",
            groups=peaks(self.samples),
            samples=self.samples,
            hub=hub,
            notes=notes,
        )


def peaks(samples: list[GroupSample], window: tuple[float, float] | None = None) -> list[GroupPeak]:
    """Each group's extremes, over `window` (seconds since t0) or all samples."""
    by: dict[str, list[GroupSample]] = defaultdict(list)
    for s in samples:
        if window is None or window[0] <= s.t <= window[1]:
            by[s.group].append(s)
    out = []
    for g, ss in sorted(by.items()):
        fds = [s.fds for s in ss if s.fds is not None]
        conns = [s.connections for s in ss if s.connections is not None]
        cpu = [s.cpu_cores for s in ss if s.cpu_cores is not None] or [0.0]
        out.append(
            GroupPeak(
                group=g,
                cpu_cores_max=max(cpu),
                cpu_cores_mean=round(sum(cpu) / len(cpu), 3),
                rss_mb_max=max(s.rss_mb for s in ss),
                fds_max=max(fds) if fds else None,
                connections_max=max(conns) if conns else None,
                processes_max=max(s.processes for s in ss),
            )
        )
    return out
