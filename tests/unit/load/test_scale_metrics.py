"""Server-side metrics and the many-sessions bench, without processes: /hub/metrics text
captured from the real hub of a bench on the local target, histogram quantiles, the
OpenMetrics file read back by prometheus_client's own parsers, the latency and ratio maths, the
generator's verdict, and the async client's frame filtering."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from eg_harness.clients import metrics as prom
from eg_harness.kernel import aio
from eg_harness.kernel import messages as m
from eg_harness.load import servers, sessions
from eg_harness.report import openmetrics
from eg_harness.report.model import GroupSample, Results, json_schema
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

DATA = Path(__file__).resolve().parents[1] / "data"
# Saved from diagnostics/hub-metrics.txt of `eg-harness bench --journey hub --ladder 3
# --spawn-limit 2 --churn-users 0` on the local target (JupyterHub 6.1.1): the hub's own text.
HUB_METRICS = DATA / "hub_metrics_6.1.1.txt"


# -- /hub/metrics ---------------------------------------------------------------------------------
def test_real_hub_metrics_parse_into_spawns_by_outcome_and_their_histograms():
    samples = prom.parse(HUB_METRICS.read_text())
    spawn = "jupyterhub_server_spawn_duration_seconds_count"
    ok = prom.value(samples, spawn, status="success")
    throttled = prom.value(samples, spawn, status="failure", reason="throttled")
    # The storm of 3 against a limit of 2: two spawns ran, one was refused with 429.
    assert ok >= 2 and throttled >= 1
    assert prom.value(samples, "jupyterhub_running_servers") >= 0
    hists = prom.histograms(samples, "jupyterhub_server_spawn_duration_seconds")
    by_outcome = {(h["labels"]["status"], h["labels"]["reason"]): h for h in hists}
    good = by_outcome[("success", "")]
    assert good["count"] == ok and good["sum"] > 0
    # A spawn takes seconds; the estimate lies inside the histogram's buckets.
    assert 0 < good["p50"] <= good["p95"] <= 3600
    assert by_outcome[("failure", "throttled")]["count"] == throttled
    requests = prom.histograms(samples, "jupyterhub_request_duration_seconds")
    assert any(h["labels"]["handler"].endswith("SpawnProgressAPIHandler") for h in requests)


def test_two_scrapes_subtract_to_the_window_and_gauges_keep_their_last_value():
    before = prom.parse(
        "# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="1.0"} 2\nx_seconds_bucket{le="+Inf"} 3\n'
        "x_seconds_count 3\nx_seconds_sum 4.0\n"
        "# TYPE up gauge\nup 5\n"
    )
    after = prom.parse(
        "# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="1.0"} 6\nx_seconds_bucket{le="+Inf"} 9\n'
        "x_seconds_count 9\nx_seconds_sum 10.0\n"
        "# TYPE up gauge\nup 7\n"
    )
    d = prom.delta(after, before)
    assert prom.value(d, "x_seconds_count") == 6 and prom.value(d, "x_seconds_sum") == 6.0
    assert prom.value(d, "up") == 7
    (h,) = prom.histograms(d, "x_seconds")
    assert h["count"] == 6 and h["p50"] == 0.75  # rank 3 of the 4 below 1.0: linear


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.25, 0.5),  # rank 2.5 of 10 in the first bucket [0, 1] holding 5
        (0.5, 1.0),  # exactly the first bucket's count
        (0.75, 1.5),  # rank 7.5: halfway through (1, 2] which holds 5 more
        (1.0, 2.0),  # the +Inf bucket adds nothing beyond 2
    ],
)
def test_histogram_quantile_interpolates_like_promql(q, expected):
    buckets = [(1.0, 5), (2.0, 10), (math.inf, 10)]
    assert prom.quantile(q, buckets) == expected


def test_histogram_quantile_in_the_inf_bucket_answers_the_highest_bound_and_empty_none():
    assert prom.quantile(0.99, [(1.0, 5), (math.inf, 10)]) == 1.0
    assert prom.quantile(0.5, [(1.0, 0), (math.inf, 0)]) is None
    assert prom.quantile(0.5, []) is None


def test_a_refused_scrape_names_the_missing_scope(monkeypatch):
    class R:
        status_code = 403
        text = ""

    monkeypatch.setattr(prom.httpx, "get", lambda *a, **k: R())
    with pytest.raises(prom.MetricsError, match="read:metrics"):
        prom.fetch("http://127.0.0.1:1/hub/metrics", "t")


# -- the OpenMetrics file -------------------------------------------------------------------------
def _results() -> Results:
    lat = {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "max_ms": 40.0, "count": 9}
    doc = {
        "sessions_requested": 1000,
        "sessions_held": 990,
        "sessions_alive_at_end": 985,
        "baseline": lat,
        "latency": {k: v * 3 for k, v in lat.items()},
        "ratio": {"p50": 2.5, "p95": 3.0, "p99": 3.5},
        "generator": {"cores": 0.3, "valid": True},
    }
    samples = [
        GroupSample(t=0.0, group="gateway", cpu_cores=None, rss_mb=100.0, fds=50, connections=3),
        GroupSample(t=1.0, group="gateway", cpu_cores=0.4, rss_mb=120.0, fds=80, connections=9),
        GroupSample(t=1.0, group="kernels", cpu_cores=0.2, rss_mb=300.0, fds=40, processes=3),
    ]
    from eg_harness.report.model import ServerMetrics

    sm = ServerMetrics(
        interval_s=1.0,
        t0_epoch=1000.0,
        source="test",
        groups=servers.peaks(samples),
        samples=samples,
    )
    return Results(
        kind="bench",
        run_id="20260101-000000-abcd",
        command="eg-harness bench-ws --sessions",
        target={
            "kind": "local",
            "versions": {"enterprise_gateway": "3.3.0", "jupyterhub": "6.1.1", "odd name!": "x"},
        },
        sessions=doc,
        server_metrics=sm,
    )


def test_openmetrics_file_parses_back_with_labels_and_the_same_figures(tmp_path):
    results = _results()
    om, text = openmetrics.write(results, tmp_path)
    assert om.read_text().rstrip().endswith("# EOF")
    for parser, path in ((parse_openmetrics, om), (parse_text, text)):
        families = {f.name: f for f in parser(path.read_text())}
        ratio = {
            s.labels["quantile"]: s.value for s in families["eg_harness_ws_latency_ratio"].samples
        }
        assert ratio == {"p50": 2.5, "p95": 3.0, "p99": 3.5}
        held = {s.labels["state"]: s.value for s in families["eg_harness_ws_sessions"].samples}
        assert held == {"requested": 1000.0, "held": 990.0, "alive_at_end": 985.0}
        for fam in families.values():
            for s in fam.samples:
                assert s.labels["run_id"] == "20260101-000000-abcd"
                assert s.labels["target"] == "local"
                assert s.labels["eg_version"] == "3.3.0" and s.labels["hub_version"] == "6.1.1"
        fds = {
            s.labels["group"]: s.value for s in families["eg_harness_server_open_fds_max"].samples
        }
        assert fds == {"gateway": 80.0, "kernels": 40.0}
        cpu = families["eg_harness_server_cpu_cores_max"].samples
        assert {s.labels["group"]: s.value for s in cpu} == {"gateway": 0.4, "kernels": 0.2}
    info = {f.name: f for f in parse_openmetrics(om.read_text())}["eg_harness_run"]
    assert info.samples[0].labels["odd_name"] == "x"  # version keys become valid label names


def test_the_schema_publishes_the_server_metrics():
    props = json_schema()["properties"]
    assert "server_metrics" in props and "sessions" in props


# -- the sessions bench's maths ---------------------------------------------------------------
def test_percentiles_are_milliseconds_and_ratios_divide_load_by_alone():
    base = sessions.pcts([0.010, 0.020, 0.030])
    load = sessions.pcts([0.020, 0.040, 0.060, 0.080, 0.100])
    assert base == {"p50_ms": 20.0, "p95_ms": 29.0, "p99_ms": 29.8, "max_ms": 30.0, "count": 3}
    assert load["p50_ms"] == 60.0 and load["count"] == 5
    assert sessions.ratios(load, base) == {
        "p50": 3.0,
        "p95": round(load["p95_ms"] / 29.0, 3),
        "p99": round(load["p99_ms"] / 29.8, 3),
    }
    assert sessions.pcts([])["p50_ms"] is None
    assert sessions.ratios(sessions.pcts([]), base) == {"p50": None, "p95": None, "p99": None}


def test_generator_verdict_busy_starved_or_valid():
    ok = sessions.generator_verdict(0.1, 0.002, 0.050)
    assert ok["valid"] and ok["reasons"] == []
    busy = sessions.generator_verdict(0.95, 0.002, 0.050)
    assert not busy["valid"] and "0.95 cores" in busy["reasons"][0]
    # A loop that wakes 30 ms late measured a 40 ms median: most of it is its own delay.
    starved = sessions.generator_verdict(0.2, 0.030, 0.040)
    assert not starved["valid"] and "woke 30.0 ms late" in starved["reasons"][0]
    # The same lag under a slow gateway (2 s) is noise beside what it measured.
    assert sessions.generator_verdict(0.2, 0.030, 2.0)["valid"]


def test_sessions_spread_over_kernels_and_kernels_over_gateways():
    st = sessions.SessionsSettings(sessions=1000, per_kernel=10, gateways=6)
    assert st.kernels == 100 and sessions.SessionsSettings(sessions=5, per_kernel=10).kernels == 1
    per_gateway = [0] * 6
    for k in range(st.kernels):
        per_gateway[sessions.gateway_for(k, 6)] += 1
    assert max(per_gateway) - min(per_gateway) <= 1


def test_peaks_skip_the_first_samples_cpu_which_has_no_interval_behind_it():
    ss = [
        GroupSample(t=0.0, group="hub", cpu_cores=None, rss_mb=10.0, fds=5, connections=1),
        GroupSample(t=1.0, group="hub", cpu_cores=0.5, rss_mb=12.0, fds=7, connections=2),
        GroupSample(t=2.0, group="hub", cpu_cores=0.1, rss_mb=11.0, fds=6, connections=2),
    ]
    (p,) = servers.peaks(ss)
    assert (p.cpu_cores_max, p.cpu_cores_mean, p.rss_mb_max, p.fds_max) == (0.5, 0.3, 12.0, 7)
    assert servers.peaks(ss, window=(5.0, 6.0)) == []
    assert servers.group_of("gateway-3") == "gateway" and servers.group_of("locust") is None


# -- the async client: a frame is parsed only when it can be ours -------------------------------
class _FakeWS:
    protocol = None

    def __init__(self, frames):
        self.frames = frames
        self.sent = []
        self.close_code = 1000

    async def send_str(self, text):
        self.sent.append(json.loads(text))
        req = self.sent[-1]
        for f in self.frames(req):
            await self.queue.put(f)

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def close(self):
        await self.queue.put(None)


class _Frame:
    def __init__(self, data):
        import aiohttp

        self.type = aiohttp.WSMsgType.TEXT
        self.data = data


def test_async_channels_time_reply_and_idle_and_parse_only_frames_naming_the_request():
    def frames(req):
        other = m.new_message("status", {"execution_state": "busy"}, session="x", channel="iopub")
        reply = m.new_message(
            "execute_reply", {"status": "ok"}, session="k", parent_header=req["header"]
        )
        idle = m.new_message(
            "status",
            {"execution_state": "idle"},
            session="k",
            channel="iopub",
            parent_header=req["header"],
        )
        reply["channel"] = "shell"
        return [_Frame(json.dumps(x)) for x in (other, other, reply, idle)]

    async def go():
        ws = _FakeWS(frames)
        ws.queue = asyncio.Queue()
        chans = aio.AioChannels(ws, "session")
        t = await chans.execute("1", timeout=5)
        await chans.close()
        return chans, t

    chans, t = asyncio.run(go())
    assert t.status == "ok" and t.reply_s is not None and t.idle_s >= t.reply_s
    assert chans.frames == 4 and chans.decoded == 2  # someone else's frames never parsed


def _reply_only(req):
    """A kernel whose idle status for the request never reaches this socket (jupyter_server
    1.24 skips its iopub nudge for a busy kernel, so a new subscription can miss it)."""
    reply = m.new_message(
        "kernel_info_reply", {"status": "ok"}, session="k", parent_header=req["header"]
    )
    reply["channel"] = "shell"
    return [_Frame(json.dumps(reply))]


def test_an_opening_reply_without_its_idle_is_held_after_the_grace_and_says_so():
    async def go(**kw):
        ws = _FakeWS(_reply_only)
        ws.queue = asyncio.Queue()
        chans = aio.AioChannels(ws, "session")
        try:
            return await chans.kernel_info(**kw)
        finally:
            await chans.close()

    t = asyncio.run(go(timeout=5, idle_grace=0.1))
    assert t.status == "ok" and t.reply_s is not None and t.idle_s is None
    with pytest.raises(
        aio.AioChannelsError, match=r"no reply and idle within 0s \(the reply came\)"
    ):
        asyncio.run(go(timeout=0.2))


def test_a_missing_reply_still_fails_within_the_timeout_under_a_grace():
    async def go():
        ws = _FakeWS(lambda req: [])
        ws.queue = asyncio.Queue()
        chans = aio.AioChannels(ws, "session")
        try:
            return await chans.kernel_info(timeout=0.2, idle_grace=5)
        finally:
            await chans.close()

    with pytest.raises(aio.AioChannelsError, match="no reply and idle within"):
        asyncio.run(go())


# -- the command line: bad input is a one-line error and exit 2, before anything starts --------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--sessions", "10", "--gateway-env", "PATH=/x"], "EG_NAME=VALUE"),
        (["--sessions", "10", "--gateway-env", "EG_ZMQ_MAX_SOCKETS"], "EG_NAME=VALUE"),
        (["--sessions", "10", "--gateways", "0"], "positive integers"),
        (["--sessions", "10", "--period", "0"], "positive seconds"),
    ],
)
def test_bench_ws_refuses_bad_settings_with_exit_2(args, says, capsys):
    from eg_harness.cli.main import main

    assert main(["bench-ws", *args]) == 2
    assert says in capsys.readouterr().err


def test_spawn_limit_is_for_the_local_hub_only(capsys):
    from eg_harness.cli.main import main

    assert main(["bench", "--target", "existing", "--spawn-limit", "2"]) == 2
    assert "--spawn-limit" in capsys.readouterr().err
