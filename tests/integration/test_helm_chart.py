"""charts/pace: helm (built from the Go module proxy) lints and renders it, the real
kube-apiserver accepts every rendered object (server-side dry run), its RBAC is exactly
manifests/rbac's, and every setting it passes is one the operator reads."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pace.config import OperatorConfig
from pace.localstack import binaries
from tests.servers.kube_apiserver import Cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "pace"
RBAC = ROOT / "manifests" / "rbac" / "operator.yaml"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries.locate("helm")), *args], capture_output=True, text=True, check=False
    )


def render(namespace: str, *sets: str) -> list[dict[str, Any]]:
    flags = [f"--set={s}" for s in sets]
    result = helm("template", "pace", str(CHART), "--namespace", namespace, *flags)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_chart_lints() -> None:
    result = helm("lint", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_rendered_objects_are_accepted_by_the_api_server(
    kube_cluster: Cluster, namespace: str
) -> None:
    rendered = helm(
        "template",
        "pace",
        str(CHART),
        "--namespace",
        namespace,
        "--set=objectStore.endpoint=minio.storage:9000",
        "--set=prometheus.url=http://prometheus:9090",
    )
    assert rendered.returncode == 0, rendered.stderr
    applied = subprocess.run(
        [str(binaries.locate("kubectl")), "apply", "--dry-run=server", "-f", "-"],
        input=rendered.stdout,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KUBECONFIG": kube_cluster.kubeconfig},
    )
    assert applied.returncode == 0, applied.stderr
    kinds = ("serviceaccount", "clusterrole", "role", "deployment", "service", "networkpolicy")
    for kind in (*kinds, "secret"):
        assert re.search(rf"^{kind}[./].* \(server dry run\)$", applied.stdout, re.M), kind


def test_rbac_is_the_least_privilege_manifest() -> None:
    chart = render("pace-system")
    manifest = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    assert one(chart, "ClusterRole")["rules"] == one(manifest, "ClusterRole")["rules"]
    assert one(chart, "Role")["rules"] == one(manifest, "Role")["rules"]
    binding = one(chart, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pace-operator", "namespace": "pace-system"}
    ]


def test_settings_are_the_operators_and_parse() -> None:
    docs = render(
        "mlops",
        "objectStore.endpoint=minio.storage:9000",
        "objectStore.credentialsSecret=keys",
        "watchNamespaces={team-a,team-b}",
        "objectStore.readBuckets={datasets,shared}",
    )
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    documented = set(re.findall(r"^\| (PACE_[A-Z0-9_]+) \|", _doc(), re.M))
    assert set(env) <= documented
    assert documented - set(env) == {"PACE_BIND_ADDRESS"}  # its default (all interfaces) fits
    config = OperatorConfig.from_env(env)
    assert config.s3_credentials_secret == ("mlops", "keys")
    assert config.watch_namespaces == ("team-a", "team-b")
    assert config.s3_read_buckets == ("datasets", "shared")
    assert config.inference_log_url == "http://pace-operator.mlops.svc:9000/"
    assert config.kfp_s3_secret == "keys"  # by default the steps use the same Secret's name
    assert config.inference_sink_auth_secret == ("mlops", "pace-sink-auth")
    # Keys are referenced by Secret name only; the Role may read those two Secrets.
    assert one(docs, "Role")["rules"][0]["resourceNames"] == ["keys", "pace-sink-auth"]
    assert not any("secretKey" in str(v) for v in env.values())
    # Scoped serving keys: the operator writes the serving Secret in models' namespaces and
    # may replace Secrets of that name only (create cannot be limited to a name).
    assert (config.serving_credentials, config.serving_secret) == ("scoped", "pace-serving")
    secrets = [r for r in one(docs, "ClusterRole")["rules"] if "secrets" in r["resources"]]
    assert secrets == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["pace-serving"],
            "verbs": ["update", "delete"],
        },
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["pace-notifications"],
            "verbs": ["get"],
        },
    ]
    assert config.notifications_secret == "pace-notifications"
    shared = render("mlops", "serving.credentials=shared", "serving.secret=model-keys")
    assert [r for r in one(shared, "ClusterRole")["rules"] if "secrets" in r["resources"]] == [
        secrets[-1]  # the signing keys' Secret only
    ]
    shared_env = {
        e["name"]: e["value"]
        for e in one(shared, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert OperatorConfig.from_env(shared_env).serving_secret == "model-keys"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["pipelines.backend=kfp"], "pipelines.kfpEndpoint is required"),
        (["pipelines.backend=argo"], 'pipelines.backend must be local or kfp, not "argo"'),
        (["serving.credentials=open"], 'serving.credentials must be scoped or shared, not "open"'),
        (["serving.secret=pace-s3"], 'serving.secret "pace-s3" is objectStore.credentialsSecret'),
    ],
)
def test_bad_values_are_refused_by_name(values: list[str], message: str) -> None:
    result = helm("template", "pace", str(CHART), *[f"--set={v}" for v in values])
    assert result.returncode != 0
    assert message in result.stderr


def _doc() -> str:
    import pace.config

    return pace.config.__doc__ or ""


def test_the_sink_takes_records_only_from_predictors_and_listed_peers() -> None:
    docs = render(
        "mlops",
        "inferenceLog.networkPolicy.extraFrom[0].podSelector.matchLabels.app=feeder",
    )
    policy = one(docs, "NetworkPolicy")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == (one(docs, "Deployment")["spec"]["selector"]["matchLabels"])
    )
    sink, others = policy["spec"]["ingress"]
    assert sink["ports"] == [{"port": "inference-log", "protocol": "TCP"}]
    assert sink["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {
                "matchExpressions": [{"key": "seldon-deployment-id", "operator": "Exists"}]
            },
        },
        {"podSelector": {"matchLabels": {"app": "feeder"}}},
    ]
    assert {p["port"] for p in others["ports"]} == {"metrics", "probe"}
    made = one(docs, "Secret")
    assert made["metadata"]["name"] == "pace-sink-auth"
    assert len(base64.b64decode(made["data"]["key"])) == 64
    assert made["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not [
        d for d in render("mlops", "inferenceLog.createAuthSecret=false") if d["kind"] == "Secret"
    ]
    open_sink = render("mlops", "inferenceLog.authSecret=")
    env = {
        e["name"]
        for e in one(open_sink, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "PACE_INFERENCE_SINK_AUTH_SECRET" not in env
    assert one(open_sink, "Role")["rules"][0]["resourceNames"] == ["pace-s3"]
    assert not any(
        "authentication.k8s.io" in r["apiGroups"] for r in one(open_sink, "ClusterRole")["rules"]
    )


def test_alerts_and_service_monitor_are_opt_in_and_carry_the_rules_file() -> None:
    from pace.core import alert_rules

    plain = render("pace-system")
    assert not [d for d in plain if d["kind"] in ("PrometheusRule", "ServiceMonitor")]
    docs = render(
        "pace-system",
        "alerts.prometheusRule.enabled=true",
        "alerts.prometheusRule.labels.release=kps",
        "metrics.serviceMonitor.enabled=true",
    )
    rule = one(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == alert_rules.rules()  # the very groups promtool checks
    assert rule["metadata"]["labels"]["release"] == "kps"
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    # The Prometheus Operator names the job after the Service: what PaceOperatorDown watches.
    assert service["metadata"]["name"] == alert_rules.OPERATOR_JOB
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
