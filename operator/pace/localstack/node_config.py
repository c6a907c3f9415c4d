"""The configuration files of a real local node (pure): containerd, the CNI network, the
kubelet and kube-proxy, rendered from one `NodeLayout`.

A node here is Debian's containerd 1.6 + runc + CNI plugins (bridge, host-local, loopback,
portmap) and the kubelet, kube-proxy and kube-scheduler built with the control plane (see
`pace.localstack.binaries`). What this machine needs, measured (issue 11's spike):

- root without CAP_SYS_RESOURCE: runc cannot lower ``oom_score_adj`` (the kubelet asks -998
  for the pause container; runc fails "can't get final child's PID from pipe"), so the CRI
  plugin clamps it (``restrict_oom_score_adj``);
- cgroup v1 (hybrid): the kubelet (1.35) refuses it unless ``failCgroupV1: false``; the
  cgroupfs driver (no systemd); every pod cgroup under ``cgroupRoot`` (which must exist in
  each hierarchy before the kubelet starts) so a stop removes them all;
- no registry: the sandbox (pause) image and every Pod's image are imported into containerd
  beforehand, and Pods use ``imagePullPolicy: Never``/``IfNotPresent``;
- everything the node writes stays under its own directory where the programs allow it
  (containerd root/state/sockets, runc state, netns mounts, CNI IPAM data, kubelet root,
  pod logs, volume plugins); the rest (``/var/log/containers`` links, the device-plugin
  socket, ``/var/lib/cni/results``, ``/run/containerd/s``) is removed by the node's stop;
- kube-proxy in iptables mode leaves the host's conntrack sysctls alone and does not set
  ``route_localnet`` (``localhostNodePorts: false``); its chains are global, so one node per
  host at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
RUNC = "/usr/sbin/runc"  # Debian's runc
PAUSE_IMAGE = "localhost/pace/pause:3.10"


@dataclass(frozen=True)
class NodeLayout:
    """Where one node keeps its state, its names, addresses and ports."""

    root: Path  # everything the node writes
    name: str  # the Node's name
    host_ip: str  # the address the kubelet registers (Pods reach the host on it)
    pod_cidr: str  # this node's pods, e.g. 10.200.0.0/24
    pod_gateway: str  # the bridge's address, e.g. 10.200.0.1
    cluster_cidr: str  # all pods, e.g. 10.200.0.0/16 (kube-proxy masquerades the rest)
    bridge: str  # the CNI bridge's interface name (at most 15 characters)
    kubelet_port: int
    kubelet_healthz_port: int
    proxy_metrics_port: int
    proxy_healthz_port: int

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cgroup_root(self) -> str:
        """The cgroup under which every pod of this node lives (in every hierarchy)."""
        return "/" + self.root.name

    @property
    def pki(self) -> Path:
        return self.root / "pki"


def containerd_config(layout: NodeLayout) -> str:
    """containerd's config.toml (version 2) with the CRI plugin for this node."""
    base = layout.root / "containerd"
    return f'''version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{base / "runc"}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1
'''


def cni_conflist(layout: NodeLayout) -> str:
    """The pod network: a bridge with host-local addresses and NAT to the outside."""
    network = {
        "cniVersion": "1.0.0",
        "name": layout.bridge,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.root / "cni" / "ipam"),
                    "ranges": [[{"subnet": layout.pod_cidr, "gateway": layout.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(network, indent=2) + "\n"


def kubelet_config(layout: NodeLayout) -> str:
    """The KubeletConfiguration (kubelet.config.k8s.io/v1beta1)."""
    pki = layout.pki
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "cgroupRoot": layout.cgroup_root,
        "cgroupsPerQOS": True,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "imageServiceEndpoint": f"unix://{layout.containerd_socket}",
        "address": layout.host_ip,
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "serverTLSBootstrap": False,
        "rotateCertificates": False,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": "cluster.local",
        "clusterDNS": [],
        "resolvConf": "/etc/resolv.conf",
        "podLogsDir": str(layout.root / "pod-logs"),
        "volumePluginDir": str(layout.root / "kubelet" / "volume-plugins"),
        # A busy shared disk must not evict the node's Pods; local-only images are never
        # garbage-collected (nothing could pull them back).
        "evictionHard": {
            "memory.available": "1%",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 32,
        "registerNode": True,
        "syncFrequency": "10s",
        "nodeStatusUpdateFrequency": "10s",
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(layout: NodeLayout, kubeconfig: Path) -> str:
    """The KubeProxyConfiguration (iptables mode; host sysctls left alone)."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": layout.cluster_cidr,
        "hostnameOverride": layout.name,
        "bindAddress": "0.0.0.0",
        "metricsBindAddress": f"127.0.0.1:{layout.proxy_metrics_port}",
        "healthzBindAddress": f"127.0.0.1:{layout.proxy_healthz_port}",
        "oomScoreAdj": 0,
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
        "nodePortAddresses": ["primary"],
    }
    return yaml.safe_dump(config, sort_keys=False)
