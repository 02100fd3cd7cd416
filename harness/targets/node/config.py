"""What each node-cluster component is given: its directories, config files and command line.

Pure functions of a Layout (the run's state dir) and the pins, so the rendering is unit-tested
without root and the cluster module only starts what these return. Every address is loopback
or the bridge's gateway address; every directory a flag or config key can move is under the
state dir (the rest is recorded and removed by hostclean).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from eg_harness.targets.node.pins import NodePins

ADMIN_USER = "eg-harness-admin"
TOKEN_USERS = {
    # name: (user, groups)
    "admin": (ADMIN_USER, "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kubelet": ("system:node:localhost", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", ""),
}
CNI_NETWORK = "egh-pods"
PAUSE_REPO = "localhost/eg-harness/pause"
SOCKETS_ROOT = Path("/run/eg-harness")


@dataclass(frozen=True)
class Layout:
    """The run's state dir and each component's place in it."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def apiserver_certs(self) -> Path:
        return self.root / "apiserver"

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def sockets(self) -> Path:
        """containerd's sockets, in a short directory named after the state dir: a unix socket
        path may not pass 104 bytes, and a state dir under a deep cache or a test's tmp dir
        made containerd refuse to start ("unix socket path too long")."""
        return SOCKETS_ROOT / hashlib.sha256(str(self.root).encode()).hexdigest()[:12]

    @property
    def containerd_socket(self) -> Path:
        return self.sockets / "containerd.sock"

    @property
    def containerd_ttrpc_socket(self) -> Path:
        return self.sockets / "containerd.sock.ttrpc"

    @property
    def runc_root(self) -> Path:
        return self.containerd / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "networks"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def dns_dir(self) -> Path:
        return self.root / "dns"

    @property
    def hosts_file(self) -> Path:
        return self.dns_dir / "hosts"

    @property
    def dns_pid_file(self) -> Path:
        return self.dns_dir / "dnsmasq.pid"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfig"

    def kubeconfig(self, who: str) -> Path:
        return self.kubeconfigs / f"{who}.yaml"

    @property
    def tokens(self) -> Path:
        return self.pki / "tokens.csv"

    @property
    def ca_crt(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def state_file(self) -> Path:
        return self.root / "node-state.json"

    def dirs(self) -> list[Path]:
        return [
            self.pki,
            self.logs,
            self.etcd_data,
            self.apiserver_certs,
            self.containerd,
            self.sockets,
            self.cni_conf_dir,
            self.cni_ipam_dir,
            self.kubelet_root,
            self.dns_dir,
            self.kubeconfigs,
        ]


def apiserver_url(pins: NodePins) -> str:
    return f"https://{pins.network['bridge_ip']}:{pins.port('apiserver')}"


def tokens_csv(tokens: dict[str, str]) -> str:
    """The apiserver's static token file: token,user,uid[,"groups"]."""
    lines = []
    for who, token in tokens.items():
        user, groups = TOKEN_USERS[who]
        line = f"{token},{user},{user}"
        if groups:
            line += f',"{groups}"'
        lines.append(line)
    return "\n".join(lines) + "\n"


def kubeconfig(server: str, ca: Path, token: str, user: str = "eg-harness") -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "eg-harness-node",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": "eg-harness-node", "context": {"cluster": "eg-harness-node", "user": user}}
        ],
        "current-context": "eg-harness-node",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def cni_conflist(pins: NodePins, lay: Layout) -> str:
    net = pins.network
    doc = {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": net["bridge"],
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(lay.cni_ipam_dir),
                    "ranges": [[{"subnet": net["pod_cidr"], "gateway": net["bridge_ip"]}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(doc, indent=2)


def containerd_toml(pins: NodePins, lay: Layout, pause_ref: str) -> str:
    c = lay.containerd
    return f"""version = 2
root = "{c / "root"}"
state = "{c / "state"}"
oom_score = 0

[grpc]
  address = "{lay.containerd_socket}"

[ttrpc]
  address = "{lay.containerd_ttrpc_socket}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_ref}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{lay.runc_root}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{lay.cni_conf_dir}"
    max_conf_num = 1
"""


def kubelet_config(pins: NodePins, lay: Layout) -> str:
    net = pins.network
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": pins.port("kubelet"),
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": pins.port("kubelet_healthz"),
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "clusterDNS": [net["bridge_ip"]],
        "clusterDomain": net["cluster_domain"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(lay.ca_crt)},
        },
        "authorization": {"mode": "Webhook"},
        "volumePluginDir": str(lay.kubelet_root / "volume-plugins"),
        # Images here come from no registry: a collected image could never be pulled back.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def argv_etcd(pins: NodePins, lay: Layout, etcd: str = "/usr/bin/etcd") -> list[str]:
    client = f"http://127.0.0.1:{pins.port('etcd_client')}"
    peer = f"http://127.0.0.1:{pins.port('etcd_peer')}"
    return [
        etcd,
        "--name=eg-harness",
        f"--data-dir={lay.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=eg-harness={peer}",
        "--initial-cluster-state=new",
        "--listen-metrics-urls=",
        "--log-level=warn",
    ]


def argv_apiserver(pins: NodePins, lay: Layout, bins: Path) -> list[str]:
    net = pins.network
    return [
        str(bins / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{pins.port('etcd_client')}",
        f"--bind-address={net['bridge_ip']}",
        f"--advertise-address={net['bridge_ip']}",
        f"--secure-port={pins.port('apiserver')}",
        "--insecure-port=0",
        f"--cert-dir={lay.apiserver_certs}",
        f"--tls-cert-file={lay.pki / 'apiserver.crt'}",
        f"--tls-private-key-file={lay.pki / 'apiserver.key'}",
        f"--client-ca-file={lay.ca_crt}",
        f"--token-auth-file={lay.tokens}",
        "--authorization-mode=Node,RBAC",
        f"--service-cluster-ip-range={net['service_cidr']}",
        f"--service-account-key-file={lay.pki / 'sa.pub'}",
        f"--service-account-signing-key-file={lay.pki / 'sa.key'}",
        f"--service-account-issuer=https://kubernetes.default.svc.{net['cluster_domain']}",
        "--allow-privileged=true",
        "--kubelet-preferred-address-types=Hostname",
        f"--kubelet-client-certificate={lay.pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={lay.pki / 'apiserver-kubelet-client.key'}",
        "--profiling=false",
        "--v=1",
    ]


def argv_controller_manager(pins: NodePins, lay: Layout, bins: Path) -> list[str]:
    net = pins.network
    kc = lay.kubeconfig("controller-manager")
    return [
        str(bins / "kube-controller-manager"),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={pins.port('controller_manager')}",
        "--port=0",
        f"--cert-dir={lay.root / 'controller-manager'}",
        f"--cluster-cidr={net['pod_cidr']}",
        f"--service-cluster-ip-range={net['service_cidr']}",
        f"--service-account-private-key-file={lay.pki / 'sa.key'}",
        f"--root-ca-file={lay.ca_crt}",
        "--use-service-account-credentials=true",
        "--leader-elect=false",
        "--profiling=false",
    ]


def argv_scheduler(pins: NodePins, lay: Layout, bins: Path) -> list[str]:
    kc = lay.kubeconfig("scheduler")
    return [
        str(bins / "kube-scheduler"),
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        f"--secure-port={pins.port('scheduler')}",
        "--port=0",
        f"--cert-dir={lay.root / 'scheduler'}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def argv_containerd(lay: Layout) -> list[str]:
    return ["/usr/bin/containerd", "--config", str(lay.containerd / "config.toml")]


def argv_kubelet(pins: NodePins, lay: Layout, bins: Path, pause_ref: str) -> list[str]:
    endpoint = f"unix://{lay.containerd_socket}"
    return [
        str(bins / "kubelet"),
        f"--config={lay.kubelet_root / 'config.yaml'}",
        f"--kubeconfig={lay.kubeconfig('kubelet')}",
        f"--root-dir={lay.kubelet_root}",
        f"--cert-dir={lay.kubelet_root / 'pki'}",
        "--container-runtime=remote",
        f"--container-runtime-endpoint={endpoint}",
        f"--image-service-endpoint={endpoint}",
        "--hostname-override=localhost",
        f"--node-ip={pins.network['bridge_ip']}",
        f"--pod-infra-container-image={pause_ref}",
        "--v=1",
    ]


def argv_kube_proxy(pins: NodePins, lay: Layout, bins: Path) -> list[str]:
    net = pins.network
    return [
        str(bins / "kube-proxy"),
        f"--kubeconfig={lay.kubeconfig('kube-proxy')}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={net['pod_cidr']}",
        "--hostname-override=localhost",
        "--bind-address=127.0.0.1",
        f"--healthz-bind-address=127.0.0.1:{pins.port('kube_proxy_healthz')}",
        f"--metrics-bind-address=127.0.0.1:{pins.port('kube_proxy_metrics')}",
        f"--nodeport-addresses=127.0.0.0/8,{net['pod_cidr']}",
        # It cannot set these here (a container's /proc/sys): 0 leaves them as they are.
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
    ]


def argv_kube_proxy_cleanup(bins: Path) -> list[str]:
    return [str(bins / "kube-proxy"), "--cleanup", "--proxy-mode=iptables"]


def argv_dnsmasq(pins: NodePins, lay: Layout) -> list[str]:
    net = pins.network
    return [
        "/usr/sbin/dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={net['bridge_ip']}",
        f"--port={pins.port('dns')}",
        f"--local=/{net['cluster_domain']}/",
        f"--addn-hosts={lay.hosts_file}",
        f"--pid-file={lay.dns_pid_file}",
        "--user=root",
        "--log-facility=-",
    ]


def hosts_text(entries: dict[str, str]) -> str:
    return "".join(f"{ip} {name}\n" for name, ip in sorted(entries.items()))
