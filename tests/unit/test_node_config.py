"""The node's configuration files parse and carry the settings this machine needs (see
pace.localstack.node_config for why each one)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

from pace.localstack import node_config

LAYOUT = node_config.NodeLayout(
    root=Path("/tmp/pace-node-1"),
    name="pace-node",
    host_ip="192.0.2.2",
    pod_cidr="10.200.0.0/24",
    pod_gateway="10.200.0.1",
    cluster_cidr="10.200.0.0/16",
    bridge="pace0",
    kubelet_port=20250,
    kubelet_healthz_port=20248,
    proxy_metrics_port=20249,
    proxy_healthz_port=20256,
)


def test_containerd_keeps_its_state_under_the_node_and_clamps_oom_scores() -> None:
    config = tomllib.loads(node_config.containerd_config(LAYOUT))
    assert config["grpc"]["address"] == "/tmp/pace-node-1/containerd/containerd.sock"
    assert config["root"].startswith("/tmp/pace-node-1/")
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == node_config.PAUSE_IMAGE
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert (runc["SystemdCgroup"], runc["Root"]) == (False, "/tmp/pace-node-1/containerd/runc")
    assert cri["cni"]["conf_dir"] == "/tmp/pace-node-1/cni/net.d"


def test_pod_network_and_kubelet() -> None:
    network = json.loads(node_config.cni_conflist(LAYOUT))
    bridge = network["plugins"][0]
    assert (bridge["bridge"], bridge["ipam"]["ranges"][0][0]["gateway"]) == ("pace0", "10.200.0.1")
    kubelet = yaml.safe_load(node_config.kubelet_config(LAYOUT))
    assert kubelet["failCgroupV1"] is False
    assert kubelet["cgroupRoot"] == "/pace-node-1"
    assert (
        kubelet["containerRuntimeEndpoint"] == "unix:///tmp/pace-node-1/containerd/containerd.sock"
    )
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["imageGCHighThresholdPercent"] == 100
    proxy = yaml.safe_load(node_config.kube_proxy_config(LAYOUT, Path("/k/proxy.kubeconfig")))
    assert (proxy["mode"], proxy["clusterCIDR"]) == ("iptables", "10.200.0.0/16")
    assert proxy["iptables"]["localhostNodePorts"] is False
    assert proxy["conntrack"]["maxPerCore"] == 0
