"""The node cluster for real: up, a pod, a ClusterIP, a service name, then nothing left.

Brings up the single-node cluster of the node target (Kubernetes v1.20.2 from Debian's source
package) on this machine, runs pods from a one-binary image (tests/selftest/node_probe), and
checks what a target built on it relies on: the node Ready, a Service's ClusterIP routed by
kube-proxy from the host and from a pod, a service name resolved by the cluster's dnsmasq
(and an unknown one not), then tears down and compares the host with what it was before:
processes, mounts, the bridge and veths, KUBE-/CNI- chains, sysctls, shared paths. Prints the
figures the issue asks for. Skipped, with preflight's reason, where the machine cannot host it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime import processes
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.node import hostclean, hostsettings, k8sbuild, preflight, tinyimage
from eg_harness.targets.node.cluster import NodeCluster
from eg_harness.targets.node.pins import load_pins
from kubernetes import client
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.serial]

PROBE_SRC = Path(__file__).parent / "node_probe" / "main.go"
NS = "egh-probe"


def say(msg: str) -> None:
    print(f"[node-cluster] {msg}", flush=True)


def chains_now() -> set[str]:
    out = set()
    for binary in hostclean.BINARIES:
        for table in hostclean.TABLES:
            out |= {
                f"{binary}/{table}/{c}"
                for c in hostclean.chains(binary, table)
                if c.startswith(hostclean.PREFIXES)
            }
    return out


def veths() -> set[str]:
    return {p.name for p in Path("/sys/class/net").iterdir() if (p / "brport").exists()}


@pytest.fixture
def machine():
    # Per test: one node cluster per machine, and another run may take the slot in between.
    try:
        found = preflight.require(say)
    except TargetUnavailable as exc:
        pytest.skip(f"this machine cannot host the node cluster: {exc}")
    return found


def build_probe(tmp: Path) -> Path:
    out = tmp / "probe"
    env = dict(os.environ, CGO_ENABLED="0", GO111MODULE="off", GOCACHE=str(tmp / "gocache"))
    subprocess.run(
        ["go", "build", "-ldflags", "-s -w", "-o", str(out), str(PROBE_SRC)],
        check=True,
        env=env,
        timeout=300,
        cwd=tmp,
    )
    return out


def create_with_retry(what: str, create):
    """Creating a pod right after its namespace can answer 500 "No API token found" for a
    moment (the token controller has not caught up): retried, bounded."""

    def attempt():
        try:
            return create() or True
        except ApiException as exc:
            if exc.status == 500 and "token" in (exc.body or "").lower():
                return None
            raise

    return wait_for(what, attempt, 30)


def probe_pod(name: str, image: str, args: list[str], labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["/probe", *args],
                }
            ],
        },
    }


def pod_phase(core, name: str) -> str:
    return core.read_namespaced_pod(name, NS).status.phase


def idle_usage(run_id: str, seconds: float = 10.0) -> tuple[float, float]:
    """(RSS MiB, CPU % of one core) of the run's processes over a measuring window."""
    procs = {p.pid: p for p in processes.run_processes(run_id)}

    def cpu() -> float:
        total = 0.0
        for p in procs.values():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)  # a measuring window, not a synchronisation
    c1, t1 = cpu(), time.monotonic()
    rss = 0
    for p in procs.values():
        try:
            rss += p.memory_info().rss
        except psutil.Error:
            pass
    return rss / (1 << 20), 100.0 * (c1 - c0) / (t1 - t0)


def rooted_under(path: Path) -> list[str]:
    """Processes whose root or working directory is under `path` (a container left running
    has its root in a rootfs there, and does not carry the run id)."""
    out = []
    for p in psutil.process_iter(["pid"]):
        for link in ("root", "cwd"):
            try:
                target = os.readlink(f"/proc/{p.pid}/{link}")
            except OSError:
                continue
            if target.startswith(str(path)):
                out.append(f"{p.pid} {link}={target}")
    return out


def host_snapshot() -> dict:
    return {
        "sysctls": hostsettings.record(),
        "chains": chains_now(),
        "veths": veths(),
        "paths": hostclean.path_snapshot(),
        "cgroups": hostclean.cgroup_snapshot(),
    }


@pytest.fixture
def short_dir():
    """A state dir near the root: the kubelet makes unix sockets under its root dir
    (device-plugins/kubelet.sock), a socket path may not pass 108 bytes, and xdist's tmp dirs
    are deeper than that leaves room for (the kubelet died with exit 255 there)."""
    path = Path(tempfile.mkdtemp(prefix="egn-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def assert_nothing_left(run_id: str, state_dir: Path, before: dict) -> None:
    pins = load_pins()
    assert not processes.run_processes(run_id), "processes of the run are left"
    assert not rooted_under(state_dir), rooted_under(state_dir)
    assert not hostclean.mounts_under([state_dir]), "mounts under the state dir are left"
    assert not hostclean.link_exists(pins.network["bridge"]), "the bridge is left"
    assert veths() == before["veths"], "veths are left"
    assert chains_now() == before["chains"], chains_now() ^ before["chains"]
    now = hostsettings.record()
    differ = {k: (v, now[k]) for k, v in before["sysctls"].items() if k in now and now[k] != v}
    assert not differ, f"sysctls not restored: {differ}"
    assert hostclean.path_snapshot() == before["paths"], "host paths created by the run are left"
    assert hostclean.cgroup_snapshot() == before["cgroups"], "kubepods cgroups are left"


def test_node_cluster_up_pods_clusterip_dns_and_nothing_left(machine, tmp_path, short_dir):
    pins = load_pins()
    t0 = time.monotonic()
    bins = k8sbuild.ensure_binaries(say)
    build_s = time.monotonic() - t0
    stamp = (bins / k8sbuild.STAMP).read_text()
    say(f"binaries: {bins} (this run: {build_s:.1f}s; the cold build's record: {stamp})")

    state_dir = short_dir / "node"
    before = host_snapshot()
    run_id = f"nodetest-{uuid.uuid4().hex[:8]}"
    cluster = NodeCluster(run_id, state_dir, progress=say)
    t_up = time.monotonic()
    try:
        cluster.up()
        up_s = time.monotonic() - t_up
        say(f"bring-up (binaries cached): {up_s:.1f}s")
        assert up_s < 90, f"warm bring-up took {up_s:.1f}s, the bound is 90s"
        say(f"versions: {cluster.versions()}")

        probe = build_probe(tmp_path)
        archive = tmp_path / "probe.tar"
        ref = tinyimage.write_archive(
            archive, "localhost/eg-harness/probe", {"probe": probe}, ["/probe"]
        )
        assert not cluster.has_image(ref)
        cluster.import_image(archive)
        assert cluster.has_image(ref)
        assert cluster.has_image(cluster.pause_ref)

        rss_mib, cpu_pct = idle_usage(run_id)
        say(f"idle: {rss_mib:.0f} MiB RSS, {cpu_pct:.1f}% of a core (10 s window)")

        kconfig.load_kube_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api()
        node = core.read_node("localhost")
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True", node.status.conditions
        assert node.status.node_info.kubelet_version == pins.git_version

        core.create_namespace({"metadata": {"name": NS}})
        create_with_retry(
            "the server pod to be created",
            lambda: core.create_namespaced_pod(
                NS, probe_pod("server", ref, ["serve", "8080"], {"app": "probe"})
            ),
        )
        svc = core.create_namespaced_service(
            NS,
            {
                "metadata": {"name": "probe"},
                "spec": {"selector": {"app": "probe"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
        )
        cluster_ip = svc.spec.cluster_ip
        wait_for("the server pod Running", lambda: pod_phase(core, "server") == "Running", 60)
        wait_for(
            f"kube-proxy's rule for {NS}/probe",
            lambda: (
                f"{NS}/probe"
                in subprocess.run(
                    ["iptables", "-t", "nat", "-S", "KUBE-SERVICES"], capture_output=True, text=True
                ).stdout
            ),
            30,
        )

        def from_host() -> str:
            with socket.create_connection((cluster_ip, 80), timeout=3) as s:
                return s.recv(200).decode()

        answer = wait_for(f"an answer from ClusterIP {cluster_ip}:80 on the host", from_host, 20)
        assert answer.startswith("eg-harness-probe server"), answer

        cluster.set_dns(f"probe.{NS}.svc.{pins.network['cluster_domain']}", cluster_ip)
        for name, target, want in (
            ("check", f"probe.{NS}", "Succeeded"),  # short name: the pod's search domains
            ("check-unknown", f"nothere.{NS}", "Failed"),  # negative twin: must not resolve
        ):
            create_with_retry(
                f"pod {name} to be created",
                lambda name=name, target=target: core.create_namespaced_pod(
                    NS, probe_pod(name, ref, ["check", target, "80"])
                ),
            )
            phase = wait_for(
                f"pod {name} to finish",
                lambda name=name: (
                    pod_phase(core, name) in ("Succeeded", "Failed") and pod_phase(core, name)
                ),
                60,
            )
            log = core.read_namespaced_pod_log(name, NS)
            say(f"pod {name} ({target}): {phase}: {log.strip()}")
            assert phase == want, f"pod {name} {phase}, expected {want}: {log}"
        assert "answer: eg-harness-probe server" in core.read_namespaced_pod_log("check", NS)
    finally:
        t_down = time.monotonic()
        left = cluster.down()
        down_s = time.monotonic() - t_down
        say(f"teardown: {down_s:.1f}s; left: {left or 'nothing'}")
        say(f"host changes: {cluster.host_changes()}")

    assert not left, left
    assert down_s < 20, f"teardown took {down_s:.1f}s, the bound is 20s"
    assert_nothing_left(run_id, state_dir, before)


KILLED = """
import sys, threading
from pathlib import Path
from eg_harness.targets.node.cluster import NodeCluster
c = NodeCluster(sys.argv[1], Path(sys.argv[2]), progress=lambda s: print(s, flush=True))
c.up()
print("UP", c.pause_ref, flush=True)
threading.Event().wait(600)
"""


def test_a_killed_run_is_cleaned_by_eg_harness_down(machine, tmp_path, short_dir):
    """SIGKILL after bring-up with a pod running: `eg-harness down --run` tears the cluster
    down from its state file alone."""
    state_dir = short_dir / "node"
    before = host_snapshot()
    run_id = f"nodekill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "owner.log"
    with open(log, "w") as fh:
        owner = subprocess.Popen(
            [sys.executable, "-c", KILLED, run_id, str(state_dir)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        line = wait_for(
            "the owner's cluster to come up",
            lambda: (
                next((ln for ln in log.read_text().splitlines() if ln.startswith("UP ")), None)
                or (owner.poll() is not None and pytest.fail(log.read_text()[-2000:]))
            ),
            120,
        )
        pause = line.split()[1]
        kubectl = ["kubectl", "--kubeconfig", str(state_dir / "kubeconfig" / "admin.yaml")]
        subprocess.run(
            [*kubectl, "run", "p1", f"--image={pause}", "--image-pull-policy=Never"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Ready", "pod/p1", "--timeout=60s"],
            check=True,
            capture_output=True,
            timeout=70,
        )
        assert hostclean.mounts_under([state_dir]), "a running pod has mounts there"
    finally:
        owner.kill()
        owner.wait(10)
    t0 = time.monotonic()
    down = subprocess.run(
        [sys.executable, "-m", "eg_harness", "down", "--run", run_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    say(f"eg-harness down after SIGKILL: {time.monotonic() - t0:.1f}s: {down.stdout.strip()}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert_nothing_left(run_id, state_dir, before)


def test_ctrl_c_during_bring_up_leaves_nothing(machine, tmp_path, short_dir):
    """SIGINT while the kubelet is coming up (containers, the bridge, chains and changed
    sysctls all exist by then): bring-up undoes itself before the interrupt ends the run."""
    state_dir = short_dir / "node"
    before = host_snapshot()
    run_id = f"nodeintr-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "owner.log"
    with open(log, "w") as fh:
        owner = subprocess.Popen(
            [sys.executable, "-c", KILLED, run_id, str(state_dir)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # a shell's background job starts with SIGINT ignored: give the owner Python's own
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        wait_for(
            "the owner to start the kubelet",
            lambda: (
                "starting kube-proxy" in log.read_text()
                or (owner.poll() is not None and pytest.fail(log.read_text()[-2000:]))
            ),
            120,
        )
        owner.send_signal(signal.SIGINT)
        rc = owner.wait(60)
    finally:
        if owner.poll() is None:
            owner.kill()
    text = log.read_text()
    say(f"interrupted owner: exit {rc}; {[ln for ln in text.splitlines() if 'down in' in ln]}")
    assert "KeyboardInterrupt" in text and "UP " not in text, text[-2000:]
    assert "node cluster down in" in text, "bring-up did not undo itself"
    assert_nothing_left(run_id, state_dir, before)
