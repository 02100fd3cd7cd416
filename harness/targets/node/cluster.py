"""A single-node Kubernetes on this machine, from Debian's packages: bring-up and teardown.

etcd, the control plane, containerd, the kubelet, kube-proxy and a dnsmasq resolver run as
this run's processes (through the Supervisor, so `down` finds leftovers by the run id), each
with its directories under the run's state dir and listening on loopback or the CNI bridge's
gateway address. Before anything changes, what the host looked like (sysctls, iptables chains,
shared paths, cgroups) is written to a state file; teardown, live or from `eg-harness down`
after a SIGKILL, undoes the run from that file (state.teardown).
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.processes import ManagedProcess, Supervisor, signals_deferred
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.node import (
    config,
    hostclean,
    hostpkgs,
    hostsettings,
    k8sbuild,
    pki,
    state,
    tinyimage,
)
from eg_harness.targets.node.pins import load_pins

Progress = Callable[[str], None]


class NodeCluster:
    """One cluster per run; `up` then `down`, each safe to interrupt."""

    def __init__(self, run_id: str, state_dir: Path, progress: Progress = print) -> None:
        self.run_id = run_id
        self.pins = load_pins()
        self.lay = config.Layout(Path(state_dir).resolve())
        self.progress = progress
        self.supervisor = Supervisor(run_id, self.lay.logs)
        self.bridge_ip: str = self.pins.network["bridge_ip"]
        self.kubeconfig: Path = self.lay.kubeconfig("admin")
        self.pause_ref: str | None = None
        self.timings: dict[str, float] = {}
        self._doc: dict | None = None
        self._hosts: dict[str, str] = {}
        self._bins: Path | None = None
        self._tokens: dict[str, str] = {}
        self._changes: dict = {}
        self._lock = None

    # --- bring-up --------------------------------------------------------------------------

    def up(self) -> None:
        t0 = time.monotonic()
        self._claim()
        try:
            self._up()
        except BaseException as exc:
            left = self.down()
            if isinstance(exc, TargetUnavailable | WaitTimeout):
                extra = f" (teardown left: {'; '.join(left)})" if left else ""
                raise TargetUnavailable(f"{exc}{extra}") from None
            raise
        self.timings["up_s"] = round(time.monotonic() - t0, 1)
        self.progress(f"node cluster up in {self.timings['up_s']}s (kubeconfig {self.kubeconfig})")

    def _claim(self) -> None:
        """One node cluster per machine (one bridge, fixed ports): a second run fails here,
        before it records or changes anything. The lock dies with its process, so a killed
        run's cluster is left to `eg-harness down`, which the message names."""
        path = k8sbuild.cache_root() / "cluster.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 - held for the cluster's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            owner = fh.read().strip() or "?"
            fh.close()
            raise TargetUnavailable(
                f"another node cluster is running on this machine (run {owner}); wait for it "
                "or stop it (Ctrl-C its run; `eg-harness down` for a killed one)"
            ) from None
        bridge = self.pins.network["bridge"]
        if hostclean.link_exists(bridge) or state.abandoned():
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
            raise TargetUnavailable(
                f"bridge {bridge} or a node cluster's state record exists: another node "
                "cluster is running, or a killed run left it (`eg-harness down` removes that)"
            )
        fh.truncate(0)
        fh.write(f"{self.run_id} pid {os.getpid()}\n")
        fh.flush()
        self._lock = fh

    def _release(self) -> None:
        fh, self._lock = self._lock, None
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def _up(self) -> None:
        bins = self._bins = k8sbuild.ensure_binaries(self.progress)
        lay, pins, net = self.lay, self.pins, self.pins.network
        for d in lay.dirs():
            d.mkdir(parents=True, exist_ok=True)
        lay.root.chmod(0o700)
        # Record the host as it is before anything changes it.
        self._doc = {
            "run_id": self.run_id,
            "state_dir": str(lay.root),
            "bridge": None,
            "cni_network": config.CNI_NETWORK,
            "sysctls_before": hostsettings.record(),
            "chains_before": hostclean.chain_snapshot(),
            "paths_before": hostclean.path_snapshot(),
            "cgroups_before": hostclean.cgroup_snapshot(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        state.write(self._doc, lay.state_file)

        self._tokens = pki.make_pki(
            lay.pki, net["bridge_ip"], net["kubernetes_service_ip"], net["cluster_domain"]
        )
        fd = os.open(lay.tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(config.tokens_csv(self._tokens))
        server = config.apiserver_url(pins)
        for who, token in self._tokens.items():
            path = lay.kubeconfig(who)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(config.kubeconfig(server, lay.ca_crt, token, user=who))

        self._make_bridge()
        self._hosts = {
            f"kubernetes.default.svc.{net['cluster_domain']}": net["kubernetes_service_ip"]
        }
        lay.hosts_file.write_text(config.hosts_text(self._hosts))
        dns = self._start("dnsmasq", config.argv_dnsmasq(pins, lay))
        self._wait(dns, "dnsmasq to write its pid file", lay.dns_pid_file.exists, 10)

        etcd = self._start("etcd", config.argv_etcd(pins, lay))
        etcd_url = f"http://127.0.0.1:{pins.port('etcd_client')}/health"
        self._wait(
            etcd,
            "etcd health",
            lambda: _get(etcd_url).status_code == 200,
            pins.timeout("etcd_ready"),
        )
        api = self._start("kube-apiserver", config.argv_apiserver(pins, lay, bins))
        self._wait(
            api,
            f"the apiserver's /readyz at {server}",
            lambda: self._api("/readyz").status_code == 200,
            pins.timeout("apiserver_ready"),
        )
        cm = self._start("kube-controller-manager", config.argv_controller_manager(pins, lay, bins))
        sched = self._start("kube-scheduler", config.argv_scheduler(pins, lay, bins))

        lay.cni_conf_dir.joinpath("10-egh-pods.conflist").write_text(config.cni_conflist(pins, lay))
        self.pause_ref = self._pause_archive_ref()
        (lay.containerd / "config.toml").write_text(
            config.containerd_toml(pins, lay, self.pause_ref)
        )
        ctrd = self._start("containerd", config.argv_containerd(lay))
        self._wait(
            ctrd,
            "containerd's socket",
            lambda: self._ctr(["version"], timeout=5).returncode == 0,
            10,
        )
        self.import_image(self._pause_archive())

        (lay.kubelet_root / "config.yaml").write_text(config.kubelet_config(pins, lay))
        kubelet = self._start("kubelet", config.argv_kubelet(pins, lay, bins, self.pause_ref))
        proxy = self._start("kube-proxy", config.argv_kube_proxy(pins, lay, bins))

        self._wait(
            sched,
            "the scheduler's /healthz",
            lambda: _get(f"https://127.0.0.1:{pins.port('scheduler')}/healthz").status_code == 200,
            pins.timeout("apiserver_ready"),
        )
        self._wait(
            kubelet,
            "node localhost Ready",
            self._node_ready,
            pins.timeout("node_ready"),
        )
        self._wait(
            cm,
            "the default service account in namespace default",
            lambda: (
                self._api("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200
            ),
            pins.timeout("service_account"),
        )
        self._wait(
            proxy,
            "kube-proxy's rule for the kubernetes service (iptables -t nat KUBE-SERVICES)",
            lambda: "default/kubernetes" in _iptables_nat("KUBE-SERVICES"),
            pins.timeout("kube_proxy_rules"),
        )

    def _make_bridge(self) -> None:
        """The bridge exists before the apiserver so it can bind its gateway address."""
        name, net = self.pins.network["bridge"], self.pins.network
        if hostclean.link_exists(name):
            raise TargetUnavailable(
                f"bridge {name} already exists (another node cluster, or one a killed run "
                "left): run `eg-harness down`, or `ip link del " + name + "`"
            )
        self._doc["bridge"] = name
        state.write(self._doc, self.lay.state_file)
        prefix = net["pod_cidr"].split("/")[1]
        for argv in (
            ["ip", "link", "add", name, "type", "bridge"],
            ["ip", "addr", "add", f"{net['bridge_ip']}/{prefix}", "dev", name],
            ["ip", "link", "set", name, "up"],
        ):
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            if proc.returncode != 0:
                raise TargetUnavailable(
                    f"CNI bridge: `{' '.join(argv)}` failed: {proc.stderr.strip()}"
                )

    def _start(self, name: str, argv: list[str]) -> ManagedProcess:
        self.progress(f"  starting {name}")
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)
        return self.supervisor.start(name, argv, env=env, cwd=self.lay.root)

    def _wait(self, proc: ManagedProcess, what: str, check, timeout: float) -> None:
        t0 = time.monotonic()

        def ready():
            if not proc.alive():
                raise _Exited(proc)
            return check()

        try:
            wait_for(what, ready, timeout, max_interval=0.5)
        except _Exited:
            raise TargetUnavailable(
                f"{proc.name} exited (code {proc.popen.returncode}) while waiting for {what}; "
                f"log {proc.log_path}, last lines:\n{proc.tail(15)}"
            ) from None
        except WaitTimeout as exc:
            if not proc.alive():
                raise TargetUnavailable(
                    f"{proc.name} exited (code {proc.popen.returncode}) while waiting for "
                    f"{what}; log {proc.log_path}, last lines:\n{proc.tail(15)}"
                ) from None
            raise TargetUnavailable(
                f"{proc.name}: {exc}; log {proc.log_path}, last lines:\n{proc.tail(15)}"
            ) from None
        self.timings[f"ready:{proc.name}"] = round(time.monotonic() - t0, 2)

    # --- API, images, DNS ------------------------------------------------------------------

    def _api(self, path: str, method: str = "GET", **kw) -> httpx.Response:
        with httpx.Client(
            base_url=config.apiserver_url(self.pins),
            verify=ssl.create_default_context(cafile=str(self.lay.ca_crt)),
            headers={"Authorization": f"Bearer {self._tokens['admin']}"},
            timeout=5,
        ) as client:
            return client.request(method, path, **kw)

    def _node_ready(self) -> bool:
        node = self._api("/api/v1/nodes/localhost").json()
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in node.get("status", {}).get("conditions", [])
        )

    def _ctr(self, args: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ctr", "--address", str(self.lay.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _pause_files(self) -> dict[str, Path]:
        return {"pause": self._bins / "pause"}

    def _pause_archive_ref(self) -> str:
        tag = tinyimage.content_tag(self._pause_files(), ["/pause"])
        return f"{config.PAUSE_REPO}:{tag}"

    def _pause_archive(self) -> Path:
        out = self.lay.root / "pause-image.tar"
        ref = tinyimage.write_archive(out, config.PAUSE_REPO, self._pause_files(), ["/pause"])
        assert ref == self.pause_ref, (ref, self.pause_ref)
        return out

    def import_image(self, tarball: Path) -> None:
        """Load an image archive (docker-archive or OCI, as `podman save` writes) into this
        cluster's containerd, where the kubelet finds it without a registry."""
        t0 = time.monotonic()
        try:
            proc = self._ctr(
                ["images", "import", "--no-unpack=false", str(tarball)],
                timeout=self.pins.timeout("image_import"),
            )
        except subprocess.TimeoutExpired:
            raise TargetUnavailable(
                f"importing {tarball} into containerd took more than "
                f"{self.pins.timeout('image_import'):.0f}s"
            ) from None
        if proc.returncode != 0:
            raise TargetUnavailable(
                f"ctr images import {tarball} failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
            )
        self.progress(f"  imported {tarball.name} in {time.monotonic() - t0:.1f}s")

    def images(self) -> list[str]:
        proc = self._ctr(["images", "ls", "-q"])
        return proc.stdout.split() if proc.returncode == 0 else []

    def has_image(self, ref: str) -> bool:
        return any(r in self.images() for r in _ref_forms(ref))

    def set_dns(self, name: str, ip: str) -> None:
        """Make `name` resolve to `ip` for pods (and for anyone asking the bridge address)."""
        self._hosts[name] = ip
        self.lay.hosts_file.write_text(config.hosts_text(self._hosts))
        pid = int(self.lay.dns_pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)

    # --- reporting -------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        k = self.pins.kubernetes
        out = {
            "kubernetes": (
                f"{k['git_version']} (Debian source package {k['source_package']} "
                f"{k['debian_version']}; upstream release {k['upstream_release_date']}, "
                f"out of upstream support since {k['upstream_end_of_life']}, "
                f"{_age_years(k['upstream_release_date'])} years old)"
            ),
        }
        probes = {
            "etcd": (["etcd", "--version"], r"etcd Version: (\S+)"),
            "containerd": (["containerd", "--version"], r"containerd \S+ v?(\S+)"),
            "runc": (["runc", "--version"], r"runc version (\S+)"),
            "dnsmasq": (["dnsmasq", "--version"], r"Dnsmasq version (\S+)"),
            "cni plugins": (
                ["dpkg-query", "-W", "-f=${Version}", "containernetworking-plugins"],
                r"(\S+)",
            ),
        }
        for name, (argv, pattern) in probes.items():
            try:
                text = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
                m = re.search(pattern, text)
                out[name] = m.group(1) if m else "unknown"
            except (OSError, subprocess.TimeoutExpired):
                out[name] = "not installed"
        return out

    def host_changes(self) -> dict:
        doc = self._doc or {}
        rec = hostpkgs.recorded()
        return {
            "sysctls_recorded": {
                k.replace("/", "."): v for k, v in doc.get("sysctls_before", {}).items()
            },
            "sysctls_changed_by_the_run": self._changes.get("sysctls_changed", {}),
            "sysctls_restored": self._changes.get("restored"),
            "host_paths_created_and_removed": [
                p
                for p, existed in doc.get("paths_before", {}).items()
                if not existed and p in self._changes.get("paths_seen", [])
            ],
            "bridge": doc.get("bridge"),
            "iptables_chain_prefixes_removed": list(hostclean.PREFIXES),
            "apt_deb_src_file": rec.get("deb_src_file"),
            "apt_packages_installed": rec.get("installed_packages", []),
            "left_after_teardown": self._changes.get("left", []),
        }

    # --- teardown --------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop everything and undo the host changes; returns what could not be removed."""
        t0 = time.monotonic()
        with signals_deferred():
            if self._doc is None:
                left = self.supervisor.stop_all()
            else:
                doc = self._doc
                self._changes["paths_seen"] = [p for p in doc["paths_before"] if os.path.lexists(p)]
                left = state.teardown(doc, self.progress, self.supervisor)
                self._changes["sysctls_changed"] = doc.get("sysctls_changed", {})
                self._changes["restored"] = not any(x.startswith("sysctl") for x in left)
                if not left:
                    state.forget(self.run_id)
            self._changes["left"] = left
            self._release()
        self.timings["down_s"] = round(time.monotonic() - t0, 1)
        self.progress(
            f"node cluster down in {self.timings['down_s']}s"
            + (f"; left: {'; '.join(left)}" if left else "; nothing left")
        )
        return left


class _Exited(Exception):
    def __init__(self, proc: ManagedProcess):
        super().__init__(f"{proc.name} exited")
        self.proc = proc


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=3, verify=False)  # noqa: S501 - self-signed local component


def _iptables_nat(chain: str) -> str:
    proc = subprocess.run(
        ["iptables", "-w", "5", "-t", "nat", "-S", chain],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return proc.stdout


def _ref_forms(ref: str) -> list[str]:
    """`ref` as written and as containerd normalises it (docker.io/library/ for bare names)."""
    forms = [ref]
    first = ref.split("/")[0]
    if "/" not in ref:
        forms.append(f"docker.io/library/{ref}")
    elif "." not in first and ":" not in first and first != "localhost":
        forms.append(f"docker.io/{ref}")
    return forms


def _age_years(date: str) -> str:
    then = time.mktime(time.strptime(date, "%Y-%m-%d"))
    return f"{(time.time() - then) / (365.25 * 86400):.1f}"
