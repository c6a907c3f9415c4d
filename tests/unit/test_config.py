"""Operator settings from the environment; a bad value names its variable."""

import re

import pytest

from pace.__main__ import kopf_args
from pace.config import ConfigError, OperatorConfig


def test_defaults() -> None:
    config = OperatorConfig.from_env({})
    # The training limit defaults to what the machine has (CPUs, capped by memory).
    assert config.max_training_runs >= 1
    assert config == OperatorConfig(max_training_runs=config.max_training_runs)
    assert "--all-namespaces" in kopf_args(config, [])


def test_training_limit() -> None:
    assert OperatorConfig.from_env({"PACE_MAX_TRAINING_RUNS": "3"}).max_training_runs == 3
    assert OperatorConfig.from_env({"PACE_MAX_TRAINING_RUNS": "0"}) == OperatorConfig.from_env({})
    for bad in ("many", "1001", "-2"):
        with pytest.raises(ConfigError, match="PACE_MAX_TRAINING_RUNS"):
            OperatorConfig.from_env({"PACE_MAX_TRAINING_RUNS": bad})


def test_namespaces_and_ports() -> None:
    config = OperatorConfig.from_env(
        {"PACE_WATCH_NAMESPACES": "a, b", "PACE_METRICS_PORT": "0", "PACE_PROBE_PORT": "9999"}
    )
    assert config.watch_namespaces == ("a", "b")
    args = kopf_args(config, ["--verbose"])
    assert args[-5:] == ["--namespace", "a", "--namespace", "b", "--verbose"]
    assert "--liveness=http://0.0.0.0:9999/healthz" in args


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"PACE_METRICS_PORT": "http"}, "PACE_METRICS_PORT"),
        ({"PACE_PROBE_PORT": "70000"}, "PACE_PROBE_PORT"),
        ({"PACE_MAX_TRAINING_RUNS": "-1"}, "PACE_MAX_TRAINING_RUNS"),
    ],
)
def test_bad_value_is_named(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        OperatorConfig.from_env(env)


def test_object_store_and_backend_settings() -> None:
    config = OperatorConfig.from_env(
        {
            "PACE_S3_ENDPOINT": "127.0.0.1:9000",
            "PACE_S3_BUCKET": "b",
            "PACE_S3_CREDENTIALS_SECRET": "pace-system/s3",
            "PACE_PIPELINE_BACKEND": "kfp",
            "PACE_KFP_ENDPOINT": "http://kfp:8888",
            "PACE_PIPELINE_DIR": "/tmp/p",
        }
    )
    assert config.s3_endpoint == "127.0.0.1:9000"
    assert config.s3_bucket == "b"
    assert config.s3_credentials_secret == ("pace-system", "s3")
    assert config.pipeline_backend == "kfp"
    assert config.kfp_s3_secret == "s3"  # the credentials Secret's name, unless told
    assert str(config.pipeline_dir) == "/tmp/p"
    told = OperatorConfig.from_env(
        {
            "PACE_S3_ENDPOINT": "127.0.0.1:9000",
            "PACE_PIPELINE_BACKEND": "kfp",
            "PACE_KFP_ENDPOINT": "http://kfp:8888",
            "PACE_KFP_S3_SECRET": "kfp-s3",
        }
    )
    assert told.kfp_s3_secret == "kfp-s3"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"PACE_S3_CREDENTIALS_SECRET": "just-a-name"}, "PACE_S3_CREDENTIALS_SECRET"),
        ({"PACE_PIPELINE_BACKEND": "airflow"}, "PACE_PIPELINE_BACKEND"),
        ({"PACE_PIPELINE_BACKEND": "kfp"}, "PACE_KFP_ENDPOINT"),
        ({"PACE_PIPELINE_BACKEND": "kfp", "PACE_KFP_ENDPOINT": "http://k"}, "PACE_S3_ENDPOINT"),
        (
            {
                "PACE_PIPELINE_BACKEND": "kfp",
                "PACE_KFP_ENDPOINT": "http://k",
                "PACE_S3_ENDPOINT": "m:9000",
                "PACE_KFP_S3_SECRET": "ns/name",
            },
            "PACE_KFP_S3_SECRET",
        ),
    ],
)
def test_bad_backend_settings_are_named(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        OperatorConfig.from_env(env)


def test_serving_credentials_are_scoped_by_default_in_a_secret_of_their_own() -> None:
    config = OperatorConfig.from_env({"PACE_S3_CREDENTIALS_SECRET": "pace-system/pace-s3"})
    assert (config.serving_credentials, config.serving_secret) == ("scoped", "pace-serving")
    shared = OperatorConfig.from_env(
        {"PACE_SERVING_CREDENTIALS": "shared", "PACE_SERVING_SECRET": "model-keys"}
    )
    assert (shared.serving_credentials, shared.serving_secret) == ("shared", "model-keys")
    # Shared: PACE writes nothing, so naming the operator's own Secret is the user's choice.
    same = {
        "PACE_SERVING_CREDENTIALS": "shared",
        "PACE_SERVING_SECRET": "pace-s3",
        "PACE_S3_CREDENTIALS_SECRET": "pace-system/pace-s3",
    }
    assert OperatorConfig.from_env(same).serving_secret == "pace-s3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PACE_SERVING_CREDENTIALS": "open"}, "PACE_SERVING_CREDENTIALS='open'"),
        ({"PACE_SERVING_SECRET": "Keys!"}, "PACE_SERVING_SECRET='Keys!'"),
        (
            {
                "PACE_SERVING_SECRET": "pace-s3",
                "PACE_S3_CREDENTIALS_SECRET": "pace-system/pace-s3",
            },
            "PACE_SERVING_SECRET='pace-s3' is the name of the operator's own credentials Secret",
        ),
    ],
)
def test_bad_serving_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        OperatorConfig.from_env(env)
