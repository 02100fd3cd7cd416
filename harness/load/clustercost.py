"""What a cluster on this machine costs under a bench: its processes' memory and CPU, per step.

Why the processes and not the kubelet's summary API: on a single node the summary's node
figures are the machine's root cgroup (every other process on the machine counts, the load
generator too), and the kubelet, the runtime and the control plane run outside any cgroup the
summary names. The node target's processes are known exactly (etcd, the apiserver, the
controller-manager, the scheduler, the kubelet, kube-proxy, containerd and dnsmasq name the
cluster's state dir in their argv, the shims containerd's socket dir, and the pods run under
the shims: targets/node/figures.cluster_processes), so they are sampled
with psutil each second. A pod's processes come and go within a step (a kernel pod lives a few
seconds), so the pods' CPU is read from the `kubepods` cgroup when the node has one (cgroup v1
cpuacct: a removed pod's CPU stays charged to its parent), and from the sampled processes
otherwise (then a process's CPU after its last sample is missed: the figure is a floor).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from eg_harness.report.bench_results import ClusterUsage

SAMPLE_EVERY_S = 1.0
KUBEPODS_CPU = Path("/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage")  # ns, cgroup v1 cgroupfs
# Process name -> group; a process no name matches runs in a pod (under a shim).
GROUP_BY_NAME = {
    "etcd": "etcd",
    "kube-apiserver": "apiserver",
    "kube-controller": "controller-manager",  # comm is cut at 15 characters
    "kube-controller-manager": "controller-manager",
    "kube-scheduler": "scheduler",
    "kubelet": "kubelet",
    "kube-proxy": "kube-proxy",
    "containerd": "containerd",
    "dnsmasq": "dns",
}
PODS = "pods"
SHIMS = "shims"
SOURCE_PROCESSES = "the cluster's processes (psutil, each 1 s)"
SOURCE_CGROUP = "kubepods cgroup cpuacct (pods' CPU)"


def group_of(name: str) -> str:
    """The component a process of the cluster belongs to, by its process name."""
    if name.startswith("containerd-shim"):
        return SHIMS
    return GROUP_BY_NAME.get(name, PODS)


@dataclass
class ProcSample:
    group: str
    cpu_s: float  # cumulative user + system
    rss: int  # bytes
    created: float  # epoch seconds


@dataclass
class Sample:
    """One look at the cluster: each process by pid, and the pods' cgroup CPU if readable."""

    t: float
    procs: dict[int, ProcSample] = field(default_factory=dict)
    pods_cgroup_cpu_s: float | None = None


def usage(samples: Sequence[Sample], window: tuple[float, float]) -> ClusterUsage | None:
    """The cluster's figures over `window` (epoch seconds) from the samples inside it.

    CPU: each process's growth between its first and last sample in the window, counted from
    zero if it was created inside the window (its first sample already holds CPU spent in the
    window); the pods' group from the cgroup when both ends have it. Memory: the peak, over
    samples, of the RSS summed by group and overall."""
    inside = [s for s in samples if window[0] <= s.t <= window[1]]
    if len(inside) < 2:
        return None
    first: dict[int, ProcSample] = {}
    last: dict[int, ProcSample] = {}
    for s in inside:
        for pid, p in s.procs.items():
            first.setdefault(pid, p)
            last[pid] = p
    cpu: dict[str, float] = {}
    for pid, end in last.items():
        begin = first[pid]
        spent = end.cpu_s if begin.created >= window[0] else end.cpu_s - begin.cpu_s
        cpu[end.group] = cpu.get(end.group, 0.0) + max(spent, 0.0)
    source = SOURCE_PROCESSES
    a, b = inside[0].pods_cgroup_cpu_s, inside[-1].pods_cgroup_cpu_s
    if a is not None and b is not None:
        cpu[PODS] = b - a
        source = f"{SOURCE_PROCESSES}; {SOURCE_CGROUP}"
    peak_total = 0
    peak_by: dict[str, int] = {}
    peak_procs = 0
    for s in inside:
        by: dict[str, int] = {}
        for p in s.procs.values():
            by[p.group] = by.get(p.group, 0) + p.rss
        peak_total = max(peak_total, sum(by.values()))
        peak_procs = max(peak_procs, len(s.procs))
        for g, v in by.items():
            peak_by[g] = max(peak_by.get(g, 0), v)
    span = inside[-1].t - inside[0].t
    total = sum(cpu.values())
    return ClusterUsage(
        source=source,
        window_s=round(span, 3),
        samples=len(inside),
        cpu_s=round(total, 3),
        cpu_cores_mean=round(total / span, 3) if span > 0 else None,
        cpu_s_by_group={g: round(v, 3) for g, v in sorted(cpu.items())},
        rss_mib_peak=round(peak_total / 2**20, 1),
        rss_mib_peak_by_group={g: round(v / 2**20, 1) for g, v in sorted(peak_by.items())},
        processes_peak=peak_procs,
    )


def load_samples(lines: Iterable[str]) -> list[Sample]:
    """Samples saved by `ClusterSampler.save` (pids come back as ints)."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        doc = json.loads(line)
        procs = {int(pid): ProcSample(**p) for pid, p in doc["procs"].items()}
        out.append(Sample(doc["t"], procs, doc.get("pods_cgroup_cpu_s")))
    return out


def _read_cgroup_cpu(path: Path) -> float | None:
    try:
        return int(path.read_text().strip()) / 1e9
    except (OSError, ValueError):
        return None


def take(procs: Iterable[psutil.Process], cgroup: Path | None = KUBEPODS_CPU) -> Sample:
    """One sample of `procs` (gone ones skipped)."""
    out = Sample(time.time())
    for proc in procs:
        with contextlib.suppress(psutil.Error), proc.oneshot():
            t = proc.cpu_times()
            out.procs[proc.pid] = ProcSample(
                group_of(proc.name()),
                t.user + t.system,
                proc.memory_info().rss,
                proc.create_time(),
            )
    if cgroup is not None:
        out.pods_cgroup_cpu_s = _read_cgroup_cpu(cgroup)
    return out


class ClusterSampler:
    """Samples the cluster each second on a thread while a bench runs; `usage(window)` gives a
    step's figures. `find` lists the cluster's processes (new pods appear between samples)."""

    def __init__(self, find: Callable[[], list[psutil.Process]]) -> None:
        self.find = find
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ClusterSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            self.samples.append(take(self.find()))
            if self._stop.wait(SAMPLE_EVERY_S):  # a sampling period, not a wait for a state
                return

    def save(self, path: Path) -> None:
        """The samples as JSON lines (the evidence behind a step's figures)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for s in list(self.samples):
                fh.write(json.dumps(asdict(s)) + "\n")

    def usage(self, window: tuple[float, float]) -> ClusterUsage | None:
        # A window shorter than two samples gets the samples on either side of it.
        lo, hi = window[0] - SAMPLE_EVERY_S * 1.5, window[1] + SAMPLE_EVERY_S * 1.5
        inside = [s for s in list(self.samples) if window[0] <= s.t <= window[1]]
        return usage(self.samples, window if len(inside) >= 2 else (lo, hi))
