"""A bench's figures as metrics a monitoring stack takes: `metrics.om` (OpenMetrics text, for
Prometheus' file-based scraping or a textfile collector) and `metrics.prom` (the classic text
format, what a Pushgateway accepts: `curl --data-binary @metrics.prom
$PUSHGATEWAY/metrics/job/eg-harness`).

Both are written by prometheus_client's own exposition code from one collector over the
results model, so the escaping and the format's rules are the library's. Every sample carries
the run id, the target kind and the component versions, so figures from many runs can share
one Prometheus without colliding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eg_harness.report.bench_results import BenchThroughput, Sessions, WorkloadThroughput
from eg_harness.report.model import Results
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import generate_latest as generate_text
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

PREFIX = "eg_harness"
VERSION_LABELS = {  # the versions every sample carries, by results' target.versions key
    "enterprise_gateway": "eg_version",
    "jupyterhub": "hub_version",
}


def _label_name(text: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", text).strip("_").lower()
    return name if name and not name[0].isdigit() else f"v_{name}"


class ResultsCollector:
    """A prometheus_client collector over one results document (a bench or bench-ws)."""

    def __init__(self, results: Results) -> None:
        self.results = results
        versions = results.target.versions
        self.common = {"run_id": results.run_id, "target": results.target.kind} | {
            label: versions.get(key, "") for key, label in VERSION_LABELS.items()
        }

    def _gauge(self, name: str, doc: str, labels: list[str], unit: str = "") -> GaugeMetricFamily:
        return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=[*self.common, *labels], unit=unit)

    def _add(self, fam: GaugeMetricFamily, value: float | None, *labels: str) -> None:
        if value is not None:
            fam.add_metric([*self.common.values(), *labels], float(value))

    def collect(self) -> Iterator[Any]:
        r = self.results
        info = InfoMetricFamily(f"{PREFIX}_run", "one bench run", labels=list(self.common))
        info.add_metric(
            list(self.common.values()),
            {_label_name(k): v for k, v in r.target.versions.items()}
            | {"command": r.command or ""},
        )
        yield info
        if r.throughput:
            yield from self._throughput(r.throughput)
        if r.sessions:
            yield from self._sessions(r.sessions)
        if r.server_metrics:
            yield from self._servers(r)

    def _throughput(self, doc: BenchThroughput | WorkloadThroughput) -> Iterator[Any]:
        ttfe = self._gauge(
            "time_to_first_execute_seconds",
            "time to first execute of a storm or churn, by quantile",
            ["mode", "concurrency", "quantile"],
        )
        rate = self._gauge("starts_per_second", "kernel starts per second", ["mode", "concurrency"])
        err = self._gauge("error_ratio", "failed journeys / journeys", ["mode", "concurrency"])
        for s in doc.levels():
            lv = [s.mode, str(s.concurrency)]
            for q in ("p50", "p95", "p99", "max"):
                self._add(ttfe, getattr(s.time_to_first_execute_s, q), *lv, q)
            self._add(rate, s.starts_per_s, *lv)
            self._add(err, s.error_rate, *lv)
        valid = self._gauge("valid", "1 when the generator was not the bottleneck", [])
        self._add(valid, 1.0 if doc.valid else 0.0)
        yield from (ttfe, rate, err, valid)

    def _sessions(self, doc: Sessions) -> Iterator[Any]:
        held = self._gauge("ws_sessions", "kernel WebSocket sessions, by state", ["state"])
        self._add(held, doc.sessions_requested, "requested")
        self._add(held, doc.sessions_held, "held")
        self._add(held, doc.sessions_alive_at_end, "alive_at_end")
        lat = self._gauge(
            "ws_execute_latency_seconds",
            "execute request to reply, alone (baseline) and under load, by quantile",
            ["phase", "quantile"],
        )
        for label, lats in (("baseline", doc.baseline), ("load", doc.latency)):
            for q in ("p50", "p95", "p99"):
                v = getattr(lats, f"{q}_ms")
                self._add(lat, None if v is None else v / 1000, label, q)
        ratio = self._gauge("ws_latency_ratio", "latency under load / alone", ["quantile"])
        for q, v in doc.ratio.items():
            self._add(ratio, v, q)
        gen = self._gauge("generator_cpu_cores", "the load generator's CPU, in cores", [])
        self._add(gen, doc.generator.cores)
        valid = self._gauge("valid", "1 when the generator was not the bottleneck", [])
        self._add(valid, 1.0 if doc.generator.valid else 0.0)
        yield from (held, lat, ratio, gen, valid)

    def _servers(self, r: Results) -> Iterator[Any]:
        sm = r.server_metrics
        assert sm is not None
        cpu = self._gauge("server_cpu_cores_max", "peak CPU of a component group", ["group"])
        mean = self._gauge("server_cpu_cores_mean", "mean CPU of a component group", ["group"])
        rss = self._gauge("server_rss_bytes_max", "peak memory of a group", ["group"])
        fds = self._gauge("server_open_fds_max", "peak open file descriptors", ["group"])
        con = self._gauge("server_tcp_connections_max", "peak TCP connections", ["group"])
        for g in sm.groups:
            self._add(cpu, g.cpu_cores_max, g.group)
            self._add(mean, g.cpu_cores_mean, g.group)
            self._add(rss, g.rss_mb_max * 2**20, g.group)
            self._add(fds, g.fds_max, g.group)
            self._add(con, g.connections_max, g.group)
        yield from (cpu, mean, rss, fds, con)
        if sm.hub is not None:
            hist = self._gauge(
                "hub_histogram_seconds",
                "JupyterHub histograms over the bench window (p50/p95 from buckets)",
                ["histogram", "labels", "quantile"],
            )
            count = self._gauge(
                "hub_histogram_observations",
                "observations in the bench window",
                ["histogram", "labels"],
            )
            for h in sm.hub.histograms:
                lbl = ",".join(f"{k}={v}" for k, v in sorted(h.labels.items()))
                self._add(hist, h.p50, h.name, lbl, "p50")
                self._add(hist, h.p95, h.name, lbl, "p95")
                self._add(count, h.count, h.name, lbl)
            yield from (hist, count)


def registry(results: Results) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(ResultsCollector(results))
    return reg


def write(results: Results, out_dir: Path) -> list[Path]:
    """metrics.om (OpenMetrics) and metrics.prom (Prometheus text / Pushgateway)."""
    reg = registry(results)
    om = out_dir / "metrics.om"
    om.write_bytes(generate_openmetrics(reg))
    prom = out_dir / "metrics.prom"
    prom.write_bytes(generate_text(reg))
    return [om, prom]
