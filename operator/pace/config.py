"""Operator settings read once from the environment at startup and passed down (no globals).

| variable | default | meaning |
| --- | --- | --- |
| PACE_WATCH_NAMESPACES | (all) | comma-separated namespaces to watch |
| PACE_METRICS_PORT | 8000 | port of the Prometheus /metrics endpoint (0 = any free port) |
| PACE_PROBE_PORT | 8081 | port of the /healthz liveness probe |
| PACE_BIND_ADDRESS | 0.0.0.0 | address both servers listen on |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


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


@dataclass(frozen=True)
class OperatorConfig:
    """Typed operator settings."""

    watch_namespaces: tuple[str, ...] = ()
    metrics_port: int = 8000
    probe_port: int = 8081
    bind_address: str = "0.0.0.0"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OperatorConfig:
        """Read the PACE_* variables; raise ConfigError naming a bad one."""
        env = os.environ if env is None else env
        namespaces = tuple(
            n.strip() for n in env.get("PACE_WATCH_NAMESPACES", "").split(",") if n.strip()
        )
        return cls(
            watch_namespaces=namespaces,
            metrics_port=_port(env, "PACE_METRICS_PORT", 8000),
            probe_port=_port(env, "PACE_PROBE_PORT", 8081),
            bind_address=env.get("PACE_BIND_ADDRESS", "0.0.0.0"),
        )
