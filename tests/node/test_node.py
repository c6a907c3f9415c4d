"""A real node joined to the local control plane (kubelet, containerd, runc, CNI bridge,
kube-proxy): a Pod of PACE's operator image runs as the chart runs it, reaches the API server
through the `kubernetes` Service, and stopping the node leaves nothing on the host.

Needs root, Debian's containerd/runc/CNI plugins (`make system-deps-node`) and the images
(`make images`); `make test-node` provides them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.node.conftest import IMAGE, kubectl

pytestmark = pytest.mark.timeout(900)


PROBE = """
import json, os, ssl, urllib.request, urllib.error
host = os.environ["KUBERNETES_SERVICE_HOST"]
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
req = urllib.request.Request(f"https://{host}/api/v1/namespaces/default/pods",
                             headers={"Authorization": "Bearer " + open(f"{sa}/token").read()})
try:
    code = urllib.request.urlopen(req, context=ctx, timeout=10).status
except urllib.error.HTTPError as err:
    code = err.code
try:
    open("/written", "w")
    writable = True
except OSError:
    writable = False
caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "api": code,
                  "root_writable": writable, "caps": caps}))
"""


def test_a_pod_of_the_operator_image_runs_as_the_chart_says(cluster: Any) -> None:
    plane, _info = cluster
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", PROBE],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    created = time.monotonic()
    kubectl(plane, "apply", "-f", "-", stdin=json.dumps(pod))
    deadline = time.monotonic() + 180
    phase = ""
    while time.monotonic() < deadline:
        phase = json.loads(kubectl(plane, "get", "pod", "probe", "-o", "json"))["status"].get(
            "phase", ""
        )
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    print(f"pod created -> {phase} in {time.monotonic() - created:.1f}s")
    log = kubectl(plane, "logs", "probe")
    assert phase == "Succeeded", log
    seen = json.loads(log.strip().splitlines()[-1])
    assert (seen["uid"], seen["gid"]) == (65532, 65532)
    assert seen["root_writable"] is False
    assert int(seen["caps"], 16) == 0
    # The API server answered through the `kubernetes` Service (kube-proxy), with TLS checked
    # against the service account's CA; the default account may not list pods.
    assert seen["api"] == 403
