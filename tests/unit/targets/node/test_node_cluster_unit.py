"""The node cluster's pure parts: what each component is given, the host-settings record and
restore (on a fake /proc/sys), iptables and mount bookkeeping, the state record `down` reads,
the one-binary image archive and the build's version flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import tomllib
import yaml
from eg_harness.targets.node import (
    config,
    hostclean,
    hostpkgs,
    hostsettings,
    k8sbuild,
    preflight,
    state,
    tinyimage,
)
from eg_harness.targets.node.pins import load_pins

PINS = load_pins()
ROOT = Path("/srv/run/node")
LAY = config.Layout(ROOT)
BINS = Path("/cache/k8s")
PAUSE = "localhost/eg-harness/pause:0123456789abcdef"
# Absolute paths a component may be given outside the state dir: programs and CNI plugins.
# (and dnsmasq's --local=/cluster.local/, a domain in its syntax, not a path).
OUTSIDE_OK = (
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/lib/cni",
    "/dev/null",
    str(BINS) + "/",
    "/cluster.local/",
)


def all_argv() -> dict[str, list[str]]:
    return {
        "etcd": config.argv_etcd(PINS, LAY),
        "apiserver": config.argv_apiserver(PINS, LAY, BINS),
        "controller-manager": config.argv_controller_manager(PINS, LAY, BINS),
        "scheduler": config.argv_scheduler(PINS, LAY, BINS),
        "containerd": config.argv_containerd(LAY),
        "kubelet": config.argv_kubelet(PINS, LAY, BINS, PAUSE),
        "kube-proxy": config.argv_kube_proxy(PINS, LAY, BINS),
        "dnsmasq": config.argv_dnsmasq(PINS, LAY),
    }


def flag(argv: list[str], name: str) -> str:
    found = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(found) == 1, (name, argv)
    return found[0]


def paths_in(text: str) -> list[str]:
    out = []
    for token in text.replace('"', " ").replace("=", " ").replace(",", " ").split():
        if token.startswith("/"):
            out.append(token)
    return out


def test_containerd_sockets_are_short_and_named_after_the_state_dir():
    """A unix socket path may not pass 104 bytes; the state dir may be deep."""
    deep = config.Layout(Path("/tmp") / ("d" * 150) / "node")
    assert len(str(deep.containerd_ttrpc_socket)) < 104
    assert deep.sockets.parent == config.SOCKETS_ROOT
    assert deep.sockets != LAY.sockets  # two state dirs, two socket dirs
    assert deep.sockets in deep.dirs()


def test_every_path_a_component_is_given_is_in_the_state_dir_or_a_program():
    rendered = [" ".join(a) for a in all_argv().values()] + [
        config.containerd_toml(PINS, LAY, PAUSE),
        config.kubelet_config(PINS, LAY),
        config.cni_conflist(PINS, LAY),
    ]
    stray = [
        p
        for text in rendered
        for p in paths_in(text)
        if not p.startswith((str(ROOT) + "/", str(LAY.sockets) + "/"))
        and not p.startswith(OUTSIDE_OK)
    ]
    assert not stray, stray


def test_apiserver_on_the_bridge_with_rbac_tokens_and_service_account_keys():
    argv = all_argv()["apiserver"]
    bridge = PINS.network["bridge_ip"]
    assert flag(argv, "bind-address") == bridge
    assert flag(argv, "advertise-address") == bridge
    assert flag(argv, "authorization-mode") == "Node,RBAC"
    assert flag(argv, "insecure-port") == "0"
    assert flag(argv, "kubelet-preferred-address-types") == "Hostname"
    for name in ("service-account-key-file", "service-account-signing-key-file", "token-auth-file"):
        assert flag(argv, name).startswith(str(LAY.pki))
    assert config.apiserver_url(PINS) == f"https://{bridge}:{PINS.port('apiserver')}"


def test_components_listen_on_loopback_only():
    argv = all_argv()
    for name in ("controller-manager", "scheduler", "kube-proxy"):
        assert flag(argv[name], "bind-address") == "127.0.0.1", name
    for name in ("controller-manager", "scheduler"):
        assert flag(argv[name], "port") == "0", f"{name}'s insecure port must be off"
    assert flag(argv["etcd"], "listen-client-urls").startswith("http://127.0.0.1:")
    assert flag(argv["etcd"], "listen-peer-urls").startswith("http://127.0.0.1:")
    assert flag(argv["dnsmasq"], "listen-address") == PINS.network["bridge_ip"]
    assert "--bind-interfaces" in argv["dnsmasq"] and "--no-resolv" in argv["dnsmasq"]
    kubelet = yaml.safe_load(config.kubelet_config(PINS, LAY))
    assert kubelet["address"] == "127.0.0.1" and kubelet["healthzBindAddress"] == "127.0.0.1"
    assert kubelet["readOnlyPort"] == 0


def test_kubelet_config_carries_the_traps_the_check_found():
    kubelet = yaml.safe_load(config.kubelet_config(PINS, LAY))
    assert kubelet["cgroupDriver"] == "cgroupfs"
    assert kubelet["failSwapOn"] is False
    assert kubelet["clusterDNS"] == [PINS.network["bridge_ip"]]
    assert kubelet["clusterDomain"] == "cluster.local"
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authentication"]["x509"]["clientCAFile"] == str(LAY.ca_crt)
    assert kubelet["imageGCHighThresholdPercent"] == 100, "local images can never be pulled back"
    argv = all_argv()["kubelet"]
    assert flag(argv, "hostname-override") == "localhost"
    assert flag(argv, "container-runtime-endpoint") == f"unix://{LAY.containerd_socket}"
    assert flag(argv, "root-dir") == str(LAY.kubelet_root)


def test_kube_proxy_iptables_mode_and_conntrack_left_alone():
    argv = all_argv()["kube-proxy"]
    assert flag(argv, "proxy-mode") == "iptables"
    for name in (
        "conntrack-max-per-core",
        "conntrack-tcp-timeout-established",
        "conntrack-tcp-timeout-close-wait",
    ):
        assert flag(argv, name) == "0"
    assert flag(argv, "nodeport-addresses") == f"127.0.0.0/8,{PINS.network['pod_cidr']}"


def test_containerd_config_is_its_own_and_uses_the_local_pause_image():
    doc = tomllib.loads(config.containerd_toml(PINS, LAY, PAUSE))
    assert doc["root"].startswith(str(ROOT)) and doc["state"].startswith(str(ROOT))
    assert doc["grpc"]["address"] == str(LAY.containerd_socket)
    cri = doc["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == PAUSE and not PAUSE.endswith(":latest")
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["restrict_oom_score_adj"] is True
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["SystemdCgroup"] is False and runc["Root"] == str(LAY.runc_root)
    assert cri["cni"]["conf_dir"] == str(LAY.cni_conf_dir)
    assert doc["plugins"]["io.containerd.internal.v1.opt"]["path"].startswith(str(ROOT))


def test_cni_bridge_with_gateway_ipam_in_the_state_dir_and_portmap():
    doc = json.loads(config.cni_conflist(PINS, LAY))
    bridge, portmap = doc["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == PINS.network["bridge"]
    assert bridge["isGateway"] is True
    assert bridge["ipam"]["dataDir"] == str(LAY.cni_ipam_dir)
    assert bridge["ipam"]["ranges"][0][0]["gateway"] == PINS.network["bridge_ip"]
    assert portmap["type"] == "portmap"


def test_tokens_and_kubeconfig():
    tokens = {who: f"t-{who}" for who in config.TOKEN_USERS}
    lines = config.tokens_csv(tokens).splitlines()
    assert 't-admin,eg-harness-admin,eg-harness-admin,"system:masters"' in lines
    assert 't-kubelet,system:node:localhost,system:node:localhost,"system:nodes"' in lines
    assert "t-scheduler,system:kube-scheduler,system:kube-scheduler" in lines
    kc = yaml.safe_load(config.kubeconfig("https://10.244.0.1:6443", LAY.ca_crt, "t-admin"))
    assert kc["users"][0]["user"]["token"] == "t-admin"
    assert kc["clusters"][0]["cluster"]["certificate-authority"] == str(LAY.ca_crt)
    assert kc["current-context"] == kc["contexts"][0]["name"]


def test_hosts_file():
    text = config.hosts_text(
        {"b.svc.cluster.local": "10.96.0.2", "a.svc.cluster.local": "10.96.0.1"}
    )
    assert text == "10.96.0.1 a.svc.cluster.local\n10.96.0.2 b.svc.cluster.local\n"


# --- host settings ------------------------------------------------------------------------


def fake_proc_sys(root: Path, values: dict[str, str]) -> Path:
    for key, value in values.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return root


BEFORE = {
    "net/ipv4/ip_forward": "0",
    "vm/overcommit_memory": "0",
    "kernel/panic": "0",
    "kernel/panic_on_oops": "0",
    "net/ipv4/conf/all/forwarding": "0",
    "net/ipv4/conf/default/forwarding": "0",
    "net/ipv4/conf/all/accept_redirects": "1",
    "net/ipv4/conf/default/accept_redirects": "1",
    "net/ipv4/conf/all/route_localnet": "0",
    "net/ipv4/conf/eth0/forwarding": "0",
    "net/ipv4/conf/lo/forwarding": "0",
}


def test_record_reads_fixed_settings_and_each_interfaces_forwarding(tmp_path):
    proc = fake_proc_sys(tmp_path, BEFORE)
    rec = hostsettings.record(proc)
    assert rec == BEFORE
    assert list(rec)[0] == "net/ipv4/ip_forward", "ip_forward is written back first"


def test_restore_undoes_what_the_kubelet_cni_and_kube_proxy_change(tmp_path):
    proc = fake_proc_sys(tmp_path, BEFORE)
    rec = hostsettings.record(proc)
    fake_proc_sys(
        proc,
        {
            "vm/overcommit_memory": "1",
            "kernel/panic": "10",
            "kernel/panic_on_oops": "1",
            "net/ipv4/ip_forward": "1",
            "net/ipv4/conf/eth0/forwarding": "1",
            "net/ipv4/conf/all/accept_redirects": "0",
            "net/ipv4/conf/all/route_localnet": "1",
            "net/ipv4/conf/veth1234/forwarding": "1",  # appeared during the run: not recorded
        },
    )
    assert set(hostsettings.changed(rec, proc)) == {
        "vm/overcommit_memory",
        "kernel/panic",
        "kernel/panic_on_oops",
        "net/ipv4/ip_forward",
        "net/ipv4/conf/eth0/forwarding",
        "net/ipv4/conf/all/accept_redirects",
        "net/ipv4/conf/all/route_localnet",
    }
    assert hostsettings.restore(rec, proc) == []
    assert hostsettings.record(proc) | {} == {**BEFORE, "net/ipv4/conf/veth1234/forwarding": "1"}
    assert hostsettings.changed(rec, proc) == {}


def test_restore_skips_interfaces_that_are_gone_and_reports_what_it_cannot_write(tmp_path):
    proc = fake_proc_sys(tmp_path, BEFORE)
    rec = hostsettings.record(proc)
    (proc / "net/ipv4/conf/eth0/forwarding").unlink()
    (proc / "kernel/panic").write_text("10\n")
    (proc / "kernel/panic").chmod(0o444)
    if os.geteuid() == 0:
        # root writes read-only files: make the write fail another way
        (proc / "kernel/panic").unlink()
        (proc / "kernel/panic").mkdir()
    failed = hostsettings.restore(rec, proc)
    assert failed and all("kernel.panic" in f for f in failed), failed
    assert not any("eth0" in f for f in failed)


# --- iptables, mounts, paths, cgroups -----------------------------------------------------

RULES = [
    "-P INPUT ACCEPT",
    "-N KUBE-FIREWALL",
    "-N KUBE-KUBELET-CANARY",
    "-N CNI-OLD",
    "-N DOCKER",
    "-A INPUT -j KUBE-FIREWALL",
    '-A INPUT -m comment --comment "kubernetes service portals" -m conntrack --ctstate NEW '
    "-j KUBE-SERVICES",
    "-A OUTPUT -j KUBE-FIREWALL",
    "-A FORWARD -j CNI-OLD",
    "-A FORWARD -j DOCKER",
    '-A KUBE-FIREWALL -m comment --comment "kubernetes firewall for dropping marked packets" '
    "-j DROP",
]


def test_only_chains_created_since_the_snapshot_are_ours():
    before = {"iptables": {"filter": ["CNI-OLD"]}}
    ours = hostclean.new_chains(before, "iptables", "filter", RULES)
    assert ours == ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY"]


def test_jumps_to_our_chains_are_deleted_with_their_exact_spec():
    ours = {"KUBE-FIREWALL", "KUBE-SERVICES"}
    specs = hostclean.jump_deletions(RULES, ours)
    assert ["-D", "INPUT", "-j", "KUBE-FIREWALL"] in specs
    assert ["-D", "OUTPUT", "-j", "KUBE-FIREWALL"] in specs
    portal = [s for s in specs if "KUBE-SERVICES" in s]
    assert portal and "kubernetes service portals" in portal[0], "quoted comments kept whole"
    assert not [s for s in specs if "DOCKER" in s or "CNI-OLD" in s]
    assert not [s for s in specs if s[1] in ours], "rules inside our chains go with -F"


def test_mounts_under_a_root_deepest_first(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:20 / / rw - ext4 /dev/vda rw\n"
        "30 22 0:30 / /srv/run/node/kubelet rw - ext4 /dev/vda rw\n"
        "31 30 0:31 / /srv/run/node/kubelet/pods/x/volumes/tok rw - tmpfs tmpfs rw\n"
        "32 22 0:32 / /srv/run/node2 rw - tmpfs tmpfs rw\n"
        "33 22 0:33 / /srv/run/node/with\\040space rw - tmpfs tmpfs rw\n"
    )
    found = hostclean.mounts_under([Path("/srv/run/node")], info)
    assert found == [
        "/srv/run/node/kubelet/pods/x/volumes/tok",
        "/srv/run/node/kubelet",
        "/srv/run/node/with space",
    ]


def test_only_host_paths_the_run_created_are_removed(tmp_path):
    existed, created = tmp_path / "existed", tmp_path / "created"
    existed.mkdir()
    before = hostclean.path_snapshot([str(existed), str(created)])
    (created / "device-plugins").mkdir(parents=True)
    (existed / "inside").write_text("theirs")
    assert hostclean.remove_created_paths(before) == []
    assert not created.exists()
    assert (existed / "inside").read_text() == "theirs"


def test_kubepods_cgroups_removed_bottom_up_unless_they_existed(tmp_path):
    (tmp_path / "memory" / "kubepods" / "besteffort" / "podx").mkdir(parents=True)
    (tmp_path / "cpu" / "kubepods").mkdir(parents=True)
    before = [str(tmp_path / "cpu" / "kubepods")]
    assert hostclean.remove_cgroups(before, tmp_path) == []
    assert not (tmp_path / "memory" / "kubepods").exists()
    assert (tmp_path / "cpu" / "kubepods").exists()


# --- the state record `down` reads ---------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EG_HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_state_record_is_private_and_found_by_down_only_when_its_owner_is_gone(tmp_path, cache):
    state_file = tmp_path / "run" / "node-state.json"
    doc = {"run_id": "r1", "state_dir": str(tmp_path / "run"), "bridge": "egh-br0"}
    state.write(doc, state_file)
    entry = state.registry_dir() / "r1.json"
    for path in (state_file, entry):
        assert path.stat().st_mode & 0o777 == 0o600
        assert json.loads(path.read_text())["owner_pid"] == os.getpid()
    assert state.abandoned() == [], "a live owner's cluster is not down's to remove"
    state.write({**doc, "owner_pid": dead_pid()}, state_file)
    found = state.abandoned()
    assert [d["run_id"] for d in found] == ["r1"]
    assert found[0]["state_file"] == str(state_file)
    state.forget("r1")
    assert state.abandoned() == []


def test_runc_containers_are_listed_per_namespace_root(tmp_path):
    (tmp_path / "k8s.io" / "abc").mkdir(parents=True)
    (tmp_path / "k8s.io" / "def").mkdir()
    (tmp_path / "k8s.io" / "state.json").write_text("")
    assert state.runc_containers(tmp_path) == [
        (tmp_path / "k8s.io", "abc"),
        (tmp_path / "k8s.io", "def"),
    ]
    assert state.runc_containers(tmp_path / "missing") == []


# --- the pause image, the build, packages, preflight --------------------------------------


def test_tiny_image_archive_is_a_docker_archive_tagged_by_content(tmp_path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF fake")
    ref = tinyimage.write_archive(
        tmp_path / "a.tar", "localhost/x/pause", {"pause": binary}, ["/pause"]
    )
    repo, tag = ref.rsplit(":", 1)
    assert repo == "localhost/x/pause" and len(tag) == 16 and tag != "latest"
    with tarfile.open(tmp_path / "a.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == [ref]
        cfg = json.load(tar.extractfile(manifest[0]["Config"]))
        assert cfg["config"]["Entrypoint"] == ["/pause"]
        with tarfile.open(fileobj=tar.extractfile("layer.tar")) as layer:
            assert layer.getnames() == ["pause"]
    binary.write_bytes(b"\x7fELF other")
    assert tinyimage.content_tag({"pause": binary}, ["/pause"]) != tag


def test_version_ldflags_cover_both_import_paths_and_client_go():
    flags = k8sbuild.ldflags("v1.20.2", build_date="2021-01-13T00:00:00Z")
    for pkg in (
        "k8s.io/component-base/version",
        "k8s.io/kubernetes/vendor/k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
        "k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version",
    ):
        assert f"-X {pkg}.gitVersion=v1.20.2" in flags
        assert f"-X {pkg}.gitMajor=1" in flags and f"-X {pkg}.gitMinor=20" in flags
    assert "gitCommit=" not in flags, "empty values are not set"


def test_build_environment_is_gopath_mode_offline_and_static(tmp_path):
    env = k8sbuild.build_env(tmp_path / "gopath", tmp_path / "cache")
    assert env["GO111MODULE"] == "off" and env["GOPROXY"] == "off" and env["CGO_ENABLED"] == "0"
    assert env["GOPATH"] == str(tmp_path / "gopath")


def test_a_cache_without_its_stamp_is_never_used(cache):
    out = k8sbuild.binaries_dir(PINS)
    out.mkdir(parents=True)
    for name in PINS.components + ["pause"]:
        (out / name).write_bytes(b"x")
    assert k8sbuild.cached(PINS) is None, "half build: no stamp"
    stamp = {"layout": k8sbuild.BUILD_LAYOUT, "binaries": {n: 1 for n in PINS.components}}
    (out / k8sbuild.STAMP).write_text(json.dumps(stamp))
    assert k8sbuild.cached(PINS) == out
    (out / "kubelet").unlink()
    assert k8sbuild.cached(PINS) is None, "a binary missing"


def test_deb_src_stanzas_mirror_the_deb_ones():
    sources = (
        "Types: deb\n# a comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm "
        "bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n"
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n"
        "Components: main\n"
    )
    text = hostpkgs.deb_src_text(sources)
    stanzas = text.strip().split("\n\n")
    assert len(stanzas) == 2
    assert stanzas[0].splitlines()[0] == "Types: deb-src"
    assert "URIs: http://deb.debian.org/debian" in stanzas[0]
    assert "Suites: bookworm bookworm-updates" in stanzas[0]
    assert "Signed-By: /usr/share/keyrings/k.gpg" in stanzas[0]
    assert "Suites: bookworm-security" in stanzas[1]


def test_preflight_names_taken_ports_with_the_fix():
    bridge = PINS.network["bridge_ip"]
    taken = {("127.0.0.1", PINS.port("kubelet")), ("0.0.0.0", PINS.port("etcd_client"))}
    taken |= {("127.0.0.53", PINS.port("dns")), ("10.9.9.9", PINS.port("apiserver"))}
    problems = preflight.port_problems(PINS, taken)
    assert len(problems) == 2, problems
    assert any(f"port {PINS.port('kubelet')} (kubelet)" in p for p in problems)
    assert all("clusters/node/node.json" in p for p in problems)
    assert not preflight.port_problems(PINS, {(bridge, 1)})


def test_preflight_kernel_checks_on_a_fake_machine(tmp_path):
    proc, sysfs = tmp_path / "proc", tmp_path / "sys"
    (proc).mkdir()
    (proc / "filesystems").write_text("nodev\tsysfs\nnodev\ttmpfs\n")
    (sysfs / "fs" / "cgroup").mkdir(parents=True)
    (sysfs / "fs" / "cgroup" / "cgroup.controllers").write_text("cpu memory\n")
    problems, version = preflight.kernel_problems(proc, sysfs)
    assert version == "v2"
    text = "\n".join(problems)
    for piece in ("overlayfs", "bridge", "br_netfilter", "cgroup v2"):
        assert piece in text
    (proc / "filesystems").write_text("nodev\toverlay\n")
    (sysfs / "module" / "bridge").mkdir(parents=True)
    (proc / "sys" / "net" / "bridge").mkdir(parents=True)
    (proc / "sys" / "net" / "bridge" / "bridge-nf-call-iptables").write_text("1\n")
    (sysfs / "fs" / "cgroup" / "memory").mkdir()
    (sysfs / "fs" / "cgroup" / "cpu").mkdir()
    assert preflight.kernel_problems(proc, sysfs) == ([], "v1")
