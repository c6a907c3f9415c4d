"""Prometheus from Debian's package on 127.0.0.1, scraping the operator and the router.

Tests and the local stack only. The config is generated: 1 s scrapes, so canary windows of a
few seconds have data.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from pace.localstack import binaries, processes


@dataclass
class PrometheusInfo:
    url: str
    pid: int
    config: Path


def config_text(targets: dict[str, str], *, interval: str = "1s") -> str:
    """Scrape config: one job per target (host:port of a /metrics endpoint)."""
    return yaml.safe_dump(
        {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in sorted(targets.items())
            ],
        },
        sort_keys=False,
    )


def locate() -> Path:
    found = shutil.which("prometheus")
    if not found:
        raise binaries.BinaryMissingError(
            "prometheus not found on PATH; install Debian's package: `make system-deps` "
            "(apt-get install prometheus)"
        )
    return Path(found)


def start(
    workdir: Path,
    targets: dict[str, str],
    *,
    die_with_parent: bool = True,
    timeout: float = 60.0,
    address: str = "127.0.0.1",
) -> PrometheusInfo:
    """Start Prometheus scraping ``targets``; return when it is ready. ``address``: where it
    listens (the host's address, for Pods of a local node to query it)."""
    binary = locate()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text(targets))
    port = processes.free_port()
    server = processes.start(
        "prometheus",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address={address}:{port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
        log=workdir / "prometheus.log",
        die_with_parent=die_with_parent,
    )
    url = f"http://{address}:{port}"
    processes.wait_until(
        server, lambda: processes.http_ok(f"{url}/-/ready"), timeout=timeout, what="ready"
    )
    return PrometheusInfo(url=url, pid=server.pid, config=config)
