"""Operator settings from the environment; a bad value names its variable."""

import pytest

from pace.__main__ import kopf_args
from pace.config import ConfigError, OperatorConfig


def test_defaults() -> None:
    config = OperatorConfig.from_env({})
    assert config == OperatorConfig()
    assert "--all-namespaces" in kopf_args(config, [])


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
    ],
)
def test_bad_value_is_named(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        OperatorConfig.from_env(env)
