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


def config_text(
    targets: dict[str, str],
    *,
    interval: str = "1s",
    rule_files: list[Path] | None = None,
    alertmanager: str | None = None,
) -> str:
    """Scrape config: one job per target (host:port of a /metrics endpoint); the rule files
    it evaluates and the Alertmanager (URL) it sends their alerts to."""
    config: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in sorted(targets.items())
        ],
    }
    if rule_files:
        config["rule_files"] = [str(p) for p in rule_files]
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}
            ]
        }
    return yaml.safe_dump(config, sort_keys=False)


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
    rule_files: list[Path] | None = None,
    alertmanager: str | None = None,
) -> PrometheusInfo:
    """Start Prometheus scraping ``targets``; return when it is ready. ``address``: where it
    listens (the host's address, for Pods of a local node to query it); ``rule_files`` and
    ``alertmanager``: alerting rules to evaluate, and where to send what fires."""
    binary = locate()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text(targets, rule_files=rule_files, alertmanager=alertmanager))
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
