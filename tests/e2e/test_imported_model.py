"""A model trained elsewhere (spec.model): imported, gated, served, canaried and promoted like
a trained one; a pickle that cannot serve the dataset is refused with a condition that says why.

Real servers: kube-apiserver, MinIO, Prometheus (Debian), the local serving runtime (router +
seldon-core microservices that load the registered file with the namespace's read-only key).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import joblib
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api import constants
from pace.core import datasets, naming
from tests.e2e.conftest import RolloutEnv
from tests.e2e.test_canary_rollout import Traffic, conditions_of, one_prediction, status, weights
from tests.e2e.test_train_and_register import wine
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.serving import ServingRuntime


def _fitted(C: float) -> bytes:
    """A wine classifier fitted outside PACE, on the dataset's features in order (PACE's
    sklearn://wine: scikit-learn's frame with column names fit for Parquet)."""
    frame = datasets.load_builtin("wine")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    model.fit(frame.drop(columns="target"), frame["target"])
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return buf.getvalue()


def _set_model_uri(cluster: Cluster, namespace: str, uri: str) -> None:
    cluster.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "wine",
        {"spec": {"model": {"uri": uri}}},
    )


def test_an_imported_model_is_served_canaried_and_a_bad_pickle_refused(
    kube_cluster: Cluster,
    namespace: str,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    rollout_env: RolloutEnv,
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    first, second = _fitted(1.0), _fitted(0.5)
    first_uri = store.put("incoming/wine/2026-11-01/model.joblib", first)
    store.put("incoming/wine/2026-11-28/model.joblib", second)
    env, metrics_port = rollout_env.env, rollout_env.metrics_port
    body = wine(
        "wine",
        model={"uri": first_uri},
        explainability={"samples": 20},
        qualityGates={"metrics": [{"metric": "accuracy", "min": 0.8}], "minDelta": -1},
        serving={"canary": {"steps": [50, 100], "interval": "4s", "maxFailedChecks": 1}},
    )
    predict_url = f"{serving.url}/seldon/{namespace}/wine/api/v1.0/predictions"
    traffic = Traffic(predict_url)
    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            kube_cluster.custom.create_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
            )
            eventually(
                lambda: status(kube_cluster, namespace).get("servingVersion") == "v1",
                timeout=300,
                interval=1,
                what="the imported v1 serving",
            )
            uid = kube_cluster.custom.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "wine"
            )["metadata"]["uid"]

            def lineage(version: str) -> dict[str, Any]:
                key = naming.artifact_key(
                    namespace=namespace, model="wine", version=version, artifact="lineage", uid=uid
                )
                return dict(store.get_json(key))

            def registered_bytes(version: str) -> bytes:
                key = naming.artifact_key(
                    namespace=namespace, model="wine", version=version, artifact="model", uid=uid
                )
                return store.get(key)

            # Registered as a version: the same bytes, lineage "imported" with their hash, and
            # every artifact a trained version has (gates, explanation, drift reference).
            record = lineage("v1")
            assert record["source"]["kind"] == "imported"
            assert record["source"]["sha256"] == hashlib.sha256(first).hexdigest()
            assert record["source"]["uri"] == first_uri
            assert record["algorithm"] == "imported"
            assert registered_bytes("v1") == first
            assert record["gates"]["passed"] is True
            assert record["metrics"]["accuracy"] >= 0.8
            assert {"explanation", "reference", "reference_meta", "verdict"} <= set(
                record["artifacts"]
            )
            # Served by the real microservice, which loads the registered file.
            eventually(
                lambda: (
                    conditions_of(kube_cluster, namespace).get("Ready", {}).get("status") == "True"
                ),
                timeout=120,
                what="Ready=True",
            )
            assert one_prediction(predict_url) == 200
            traffic.thread.start()
            eventually(
                lambda: traffic.snapshot()[("main", 200)] > 20,
                timeout=120,
                what="predictions served by main",
            )

            # A newer file from elsewhere: imported as v2, canaried on live traffic, promoted.
            _set_model_uri(kube_cluster, namespace, store.uri("incoming/wine/2026-11-28/"))
            eventually(
                lambda: weights(kube_cluster, namespace) == {"main": 50, "canary": 50},
                timeout=300,
                interval=0.5,
                what="the imported v2 as a canary at 50 %",
            )
            eventually(
                lambda: traffic.snapshot()[("canary", 200)] > 5,
                timeout=90,
                what="the canary to answer",
            )
            eventually(
                lambda: status(kube_cluster, namespace).get("servingVersion") == "v2",
                timeout=180,
                interval=0.5,
                what="v2 promoted by its analysis",
            )
            st = status(kube_cluster, namespace)
            assert {v["version"]: v["stage"] for v in st["versions"]} == {
                "v1": "archived",
                "v2": "production",
            }
            assert lineage("v2")["source"]["sha256"] == hashlib.sha256(second).hexdigest()
            assert lineage("v2")["trigger"] == "spec-change"
            assert registered_bytes("v2") == second
            assert traffic.snapshot()[("canary", 500)] == 0

            # Not a model: refused, named in a condition, and nothing else changes.
            bad_uri = store.put("incoming/wine/broken/model.joblib", b"not a pickle at all")
            _set_model_uri(kube_cluster, namespace, bad_uri)
            trained = eventually(
                lambda: (
                    (c := conditions_of(kube_cluster, namespace).get("Trained", {})).get("reason")
                    == "PipelineFailed"
                    and c
                ),
                timeout=300,
                interval=1,
                what="the bad pickle refused",
            )
            assert trained["status"] == "False"
            assert "'import-model'" in trained["message"]
            assert f"spec.model.uri {bad_uri}" in trained["message"]
            assert "does not load with joblib" in trained["message"]
            st = status(kube_cluster, namespace)
            assert st["training"].get("retries", 0) == 0  # a bad file is not retried
            assert st["servingVersion"] == "v2"
            assert weights(kube_cluster, namespace) == {"main": 100}
            assert one_prediction(predict_url) == 200
    finally:
        traffic.stop.set()
