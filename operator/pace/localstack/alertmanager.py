"""Alertmanager from Debian's package (``prometheus-alertmanager``) on 127.0.0.1: the local
Prometheus sends it the alerts of manifests/alerts/ (tests and the local stack only).

Alerts go to the webhook receivers given (each gets firing and resolved notifications as
Alertmanager's webhook JSON); without one they are only shown in Alertmanager's own API
(``/api/v2/alerts``). Grouped per alert and namespace, sent within about a second, so a test
sees them arrive and resolve.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from pace.localstack import binaries, processes


@dataclass
class AlertmanagerInfo:
    url: str
    pid: int


def config_text(webhooks: list[str]) -> str:
    receiver: dict[str, object] = {"name": "pace"}
    if webhooks:
        receiver["webhook_configs"] = [{"url": url, "send_resolved": True} for url in webhooks]
    return yaml.safe_dump(
        {
            "route": {
                "receiver": "pace",
                "group_by": ["alertname", "namespace"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "4h",
            },
            "receivers": [receiver],
        },
        sort_keys=False,
    )


def locate() -> Path:
    for name in ("prometheus-alertmanager", "alertmanager"):
        if found := shutil.which(name):
            return Path(found)
    raise binaries.BinaryMissingError(
        "prometheus-alertmanager not found on PATH; install Debian's package: "
        "`make system-deps` (apt-get install prometheus-alertmanager)"
    )


def start(
    workdir: Path,
    *,
    webhooks: list[str] | None = None,
    die_with_parent: bool = True,
    timeout: float = 60.0,
) -> AlertmanagerInfo:
    """Start Alertmanager sending to ``webhooks``; return when it is ready."""
    binary = locate()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(config_text(list(webhooks or [])))
    port = processes.free_port()
    server = processes.start(
        "alertmanager",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # one instance: no gossip port
            "--log.level=warn",
        ],
        log=workdir / "alertmanager.log",
        die_with_parent=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(
        server, lambda: processes.http_ok(f"{url}/-/ready"), timeout=timeout, what="ready"
    )
    return AlertmanagerInfo(url=url, pid=server.pid)
