"""Run the PACE operator in-process with kopf's KopfRunner against the test cluster."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kopf.testing import KopfRunner

from pace.localstack import processes
from tests.servers.kube_apiserver import Cluster

T = TypeVar("T")


@contextlib.contextmanager
def running_operator(
    namespace: str, *, metrics_port: int | None = None, env_extra: dict[str, str] | None = None
) -> Iterator[KopfRunner]:
    """The operator watching one namespace; fails the test if it crashed.

    Without ``env_extra`` it runs with no object store (PACE_S3_ENDPOINT empty).
    """
    env = {
        "PACE_METRICS_PORT": str(metrics_port or processes.free_port()),
        "PACE_BIND_ADDRESS": "127.0.0.1",
        "PACE_S3_ENDPOINT": "",
        **(env_extra or {}),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with KopfRunner(
            ["run", "-m", "pace.handlers", "--standalone", "--namespace", namespace, "--verbose"],
            timeout=60,
        ) as runner:
            yield runner
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


@pytest.fixture
def operator(kube_cluster: Cluster, namespace: str) -> Iterator[KopfRunner]:
    """The operator for the test's namespace."""
    with running_operator(namespace) as runner:
        yield runner


def eventually[T](
    probe: Callable[[], T],
    *,
    timeout: float = 30.0,
    interval: float = 0.3,
    what: str = "condition",
    context: Callable[[], Any] | None = None,
) -> T:
    """Poll until ``probe`` returns a truthy value; fail with the last value seen (and what
    ``context`` returns then, to tell why)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    seen = f"; context: {context()!r}" if context is not None else ""
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}; last value: {last!r}{seen}"
    )
