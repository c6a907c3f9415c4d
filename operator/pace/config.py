"""Operator settings read once from the environment at startup and passed down (no globals).

| variable | default | meaning |
| --- | --- | --- |
| PACE_WATCH_NAMESPACES | (all) | comma-separated namespaces to watch |
| PACE_METRICS_PORT | 8000 | port of the Prometheus /metrics endpoint (0 = any free port) |
| PACE_PROBE_PORT | 8081 | port of the /healthz liveness probe |
| PACE_BIND_ADDRESS | 0.0.0.0 | address both servers listen on |
| PACE_S3_ENDPOINT | (none) | host:port of the S3 API (MinIO); training needs it |
| PACE_S3_BUCKET | pace | bucket for versions, lineage and pipelines |
| PACE_S3_SECURE | false | use HTTPS to reach the S3 API |
| PACE_S3_CREDENTIALS_SECRET | (none) | namespace/name of a Secret with accessKey and secretKey |
| PACE_S3_READ_BUCKETS | (none) | other buckets s3:// URIs in specs may name (comma-separated) |
| PACE_PIPELINE_BACKEND | local | local (kfp.local in a worker process) or kfp |
| PACE_KFP_ENDPOINT | (none) | Kubeflow Pipelines API URL, for the kfp backend |
| PACE_KFP_S3_SECRET | credentials Secret | Secret the kfp steps read the store with (their ns) |
| PACE_PIPELINE_DIR | ~/.local/state/pace/pipelines | local runs and the compiled-pipeline cache |
| PACE_PROMETHEUS_URL | (none) | Prometheus for canary analysis; without it canaries hold |
| PACE_SERVING_GATEWAY | http://seldon-gateway | Seldon gateway base URL (status.endpoint) |
| PACE_SERVING_CREDENTIALS | scoped | scoped (a read-only store user per namespace) or shared |
| PACE_SERVING_SECRET | pace-serving | Secret in the model's namespace predictors read with |
| PACE_INFERENCE_LOG_URL | (none) | where predictors post request/response logs |
| PACE_INFERENCE_SINK_PORT | (none) | serve the inference log sink on this port |
| PACE_INFERENCE_SINK_AUTH_SECRET | (open) | ns/name of a Secret whose `key` signs sink tokens |
| PACE_MAX_TRAINING_RUNS | 0 (CPUs, capped by memory) | training runs at a time; more wait Queued |
| PACE_NOTIFICATIONS_SECRET | pace-notifications | webhook signing keys (in each model's ns) |
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pace.core import serving_credentials, training_queue, uri_policy

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


class ConfigError(ValueError):
    """A setting has a bad value; the message names the variable."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise ConfigError(f"{name}={value} is outside 0-65535")
    return value


def _buckets(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated bucket names; a name S3 would not take is refused by name."""
    found = tuple(b.strip() for b in env.get(name, "").split(",") if b.strip())
    for bucket in found:
        if not _BUCKET.fullmatch(bucket):
            raise ConfigError(f"{name}: {bucket!r} is not an S3 bucket name")
    return found


def _secret_ref(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """A ``<namespace>/<name>`` Secret reference (None when unset)."""
    value = env.get(name, "")
    if not value:
        return None
    namespace, _, secret = value.partition("/")
    if not namespace or not secret or "/" in secret:
        raise ConfigError(f"{name}={value!r} must be <namespace>/<name>")
    return namespace, secret


def _serving(env: Mapping[str, str], credentials_secret: tuple[str, str] | None) -> tuple[str, str]:
    """PACE_SERVING_CREDENTIALS and PACE_SERVING_SECRET. With scoped keys the operator writes
    that Secret in every model's namespace, so it must not be the Secret holding the
    operator's own keys (a model in the operator's namespace would overwrite them)."""
    mode = env.get("PACE_SERVING_CREDENTIALS", "") or serving_credentials.SCOPED
    if mode not in serving_credentials.MODES:
        raise ConfigError(f"PACE_SERVING_CREDENTIALS={mode!r} must be scoped or shared")
    secret = env.get("PACE_SERVING_SECRET", "") or OperatorConfig.serving_secret
    if not _DNS_NAME.fullmatch(secret):
        raise ConfigError(f"PACE_SERVING_SECRET={secret!r} is not a Secret name")
    if (
        mode == serving_credentials.SCOPED
        and credentials_secret is not None
        and credentials_secret[1] == secret
    ):
        raise ConfigError(
            f"PACE_SERVING_SECRET={secret!r} is the name of the operator's own credentials "
            f"Secret (PACE_S3_CREDENTIALS_SECRET={'/'.join(credentials_secret)}); with "
            "PACE_SERVING_CREDENTIALS=scoped the operator writes it in every model's namespace, "
            "so choose another name"
        )
    return mode, secret


def _available_memory() -> int:
    """Bytes the operator may use: its cgroup's limit, else the machine's memory."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 2**60:
            return int(raw)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _max_training_runs(env: Mapping[str, str]) -> int:
    raw = env.get("PACE_MAX_TRAINING_RUNS", "").strip()
    if raw in ("", "0"):
        return training_queue.default_limit(
            cpus=len(os.sched_getaffinity(0)), memory_bytes=_available_memory()
        )
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"PACE_MAX_TRAINING_RUNS={raw!r} is not a whole number") from None
    if not 1 <= value <= 1000:
        raise ConfigError(f"PACE_MAX_TRAINING_RUNS={value} is outside 1-1000")
    return value


@dataclass(frozen=True)
class OperatorConfig:
    """Typed operator settings."""

    watch_namespaces: tuple[str, ...] = ()
    metrics_port: int = 8000
    probe_port: int = 8081
    bind_address: str = "0.0.0.0"
    s3_endpoint: str | None = None
    s3_bucket: str = "pace"
    s3_secure: bool = False
    s3_credentials_secret: tuple[str, str] | None = None
    s3_read_buckets: tuple[str, ...] = ()
    pipeline_backend: str = "local"
    kfp_endpoint: str | None = None
    kfp_s3_secret: str = "pace-s3"
    pipeline_dir: Path = Path.home() / ".local" / "state" / "pace" / "pipelines"
    prometheus_url: str | None = None
    serving_gateway: str = "http://seldon-gateway"
    serving_credentials: str = "scoped"  # or "shared" (pace.core.serving_credentials)
    serving_secret: str = "pace-serving"
    inference_log_url: str | None = None
    inference_sink_port: int | None = None
    inference_sink_auth_secret: tuple[str, str] | None = None
    max_training_runs: int = 1
    notifications_secret: str = "pace-notifications"

    @property
    def read_policy(self) -> uri_policy.ReadPolicy:
        """Which s3:// URIs in users' specs the operator reads with its keys."""
        return uri_policy.ReadPolicy(self.s3_bucket, frozenset(self.s3_read_buckets))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        """Read the PACE_* variables; raise ConfigError naming a bad one."""
        env = os.environ if env is None else env
        namespaces = tuple(
            n.strip() for n in env.get("PACE_WATCH_NAMESPACES", "").split(",") if n.strip()
        )
        secret_ref = _secret_ref(env, "PACE_S3_CREDENTIALS_SECRET")
        backend = env.get("PACE_PIPELINE_BACKEND", "local")
        if backend not in ("local", "kfp"):
            raise ConfigError(f"PACE_PIPELINE_BACKEND={backend!r} must be local or kfp")
        kfp_endpoint = env.get("PACE_KFP_ENDPOINT") or None
        if backend == "kfp" and not kfp_endpoint:
            raise ConfigError("PACE_PIPELINE_BACKEND=kfp needs PACE_KFP_ENDPOINT")
        if backend == "kfp" and not env.get("PACE_S3_ENDPOINT"):
            raise ConfigError("PACE_PIPELINE_BACKEND=kfp needs PACE_S3_ENDPOINT (the steps' store)")
        kfp_secret = env.get("PACE_KFP_S3_SECRET") or (
            secret_ref[1] if secret_ref else cls.kfp_s3_secret
        )
        if not _DNS_NAME.fullmatch(kfp_secret):
            raise ConfigError(f"PACE_KFP_S3_SECRET={kfp_secret!r} is not a Secret name")
        credentials, serving_secret = _serving(env, secret_ref)
        return cls(
            watch_namespaces=namespaces,
            metrics_port=_port(env, "PACE_METRICS_PORT", 8000),
            probe_port=_port(env, "PACE_PROBE_PORT", 8081),
            bind_address=env.get("PACE_BIND_ADDRESS", "0.0.0.0"),
            s3_endpoint=env.get("PACE_S3_ENDPOINT") or None,
            s3_bucket=env.get("PACE_S3_BUCKET", "pace"),
            s3_secure=env.get("PACE_S3_SECURE", "false").lower() in ("1", "true", "yes"),
            s3_credentials_secret=secret_ref,
            s3_read_buckets=_buckets(env, "PACE_S3_READ_BUCKETS"),
            pipeline_backend=backend,
            kfp_endpoint=kfp_endpoint,
            kfp_s3_secret=kfp_secret,
            pipeline_dir=Path(env.get("PACE_PIPELINE_DIR", str(cls.pipeline_dir))),
            prometheus_url=env.get("PACE_PROMETHEUS_URL") or None,
            serving_gateway=env.get("PACE_SERVING_GATEWAY", cls.serving_gateway),
            serving_credentials=credentials,
            serving_secret=serving_secret,
            inference_log_url=env.get("PACE_INFERENCE_LOG_URL") or None,
            max_training_runs=_max_training_runs(env),
            notifications_secret=_notifications_secret(env),
            inference_sink_auth_secret=_secret_ref(env, "PACE_INFERENCE_SINK_AUTH_SECRET"),
            inference_sink_port=(
                _port(env, "PACE_INFERENCE_SINK_PORT", 0)
                if env.get("PACE_INFERENCE_SINK_PORT")
                else None
            ),
        )


def _notifications_secret(env: Mapping[str, str]) -> str:
    name = env.get("PACE_NOTIFICATIONS_SECRET", "") or OperatorConfig.notifications_secret
    if not _DNS_NAME.fullmatch(name):
        raise ConfigError(f"PACE_NOTIFICATIONS_SECRET={name!r} is not a Secret name")
    return name
