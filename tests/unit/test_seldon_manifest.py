"""The rendered SeldonDeployment: predictors, integer weights, secrets by reference, owner."""

import urllib.parse
from datetime import UTC, datetime

import pytest

from pace.api.mlmodel import MLModel, VersionRecord
from pace.core import inference_records, seldon_manifest

MODEL = MLModel.model_validate(
    {
        "name": "wine",
        "namespace": "team",
        "uid": "u-1",
        "generation": 1,
        "spec": {
            "task": "classification",
            "dataset": {"uri": "sklearn://wine", "target": "target"},
            "serving": {"replicas": 2},
        },
    }
)


def version(v: str) -> VersionRecord:
    return VersionRecord(
        version=v,
        stage="production",
        artifact_uri=f"s3://pace/models/team/wine/versions/{v}/model.joblib",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_main_only() -> None:
    sd = seldon_manifest.build(
        MODEL, serving=version("v1"), candidate=None, canary_weight=0, secret_name="pace-s3"
    )
    [main] = sd["spec"]["predictors"]
    assert (main["name"], main["traffic"], main["replicas"]) == ("main", 100, 2)
    assert main["graph"]["modelUri"] == "s3://pace/models/team/wine/versions/v1"
    assert main["graph"]["envSecretRefName"] == "pace-s3"
    assert main["graph"]["implementation"] == "SKLEARN_SERVER"
    assert sd["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert "accessKey" not in str(sd)
    assert "secretKey" not in str(sd)


@pytest.mark.parametrize("weight", [1, 10, 50, 99])
def test_canary_weights_sum_to_100(weight: int) -> None:
    sd = seldon_manifest.build(
        MODEL,
        serving=version("v1"),
        candidate=version("v2"),
        canary_weight=weight,
        secret_name="s",
        log_url="http://sink/",
    )
    main, can = sd["spec"]["predictors"]
    assert (main["traffic"], can["traffic"]) == (100 - weight, weight)
    assert can["labels"]["mlops.pace.dev/version"] == "v2"
    # Each predictor logs to a URL naming its version: the sink keys rows by it.
    assert can["graph"]["logger"] == {"mode": "all", "url": "http://sink/versions/v2"}
    assert main["graph"]["logger"]["url"] == "http://sink/versions/v1"


def test_each_predictor_logs_with_its_namespaces_sink_token() -> None:
    sd = seldon_manifest.build(
        MODEL,
        serving=version("v1"),
        candidate=version("v2"),
        canary_weight=10,
        secret_name="s",
        log_url="http://sink/",
        log_token="pace-ns-abc",
    )
    urls = [p["graph"]["logger"]["url"] for p in sd["spec"]["predictors"]]
    assert urls == [
        "http://sink/versions/v1?token=pace-ns-abc",
        "http://sink/versions/v2?token=pace-ns-abc",
    ]
    # the sink still reads the version from the path, not the query
    assert inference_records.version_of(urllib.parse.urlsplit(urls[1]).path) == "v2"


def test_bad_weight() -> None:
    with pytest.raises(ValueError, match="outside 0-100"):
        seldon_manifest.build(
            MODEL,
            serving=version("v1"),
            candidate=version("v2"),
            canary_weight=150,
            secret_name="s",
        )


def test_endpoint() -> None:
    assert seldon_manifest.endpoint("http://127.0.0.1:1/", namespace="n", name="m") == (
        "http://127.0.0.1:1/seldon/n/m/api/v1.0/predictions"
    )


def test_a_shadow_candidate_is_seldons_shadow_predictor() -> None:
    sd = seldon_manifest.build(
        MODEL,
        serving=version("v1"),
        candidate=version("v2"),
        canary_weight=0,
        secret_name="s",
        log_url="http://sink/",
        shadow=True,
    )
    main, shadow = sd["spec"]["predictors"]
    assert (main["name"], main["traffic"]) == ("main", 100)
    assert (shadow["name"], shadow["traffic"], shadow["shadow"]) == ("shadow", 0, True)
    assert shadow["graph"]["logger"]["url"] == "http://sink/versions/v2"
