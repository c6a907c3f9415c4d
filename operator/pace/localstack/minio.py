"""A real MinIO server on 127.0.0.1 for tests and the local stack (built by `binaries`)."""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pace.localstack import binaries, processes


@dataclass
class MinioInfo:
    """Where MinIO listens and how to sign in (the keys are throw-away)."""

    endpoint: str
    pid: int
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def start(
    workdir: Path,
    *,
    die_with_parent: bool = True,
    timeout: float = 60.0,
    address: str = "127.0.0.1",
) -> MinioInfo:
    """Start MinIO with fresh random credentials; return when it is ready. ``address``: where
    it listens (the host's address, for Pods of a local node to reach it)."""
    binary = binaries.locate("minio")
    port, console = processes.free_port(), processes.free_port()
    access, secret = "pace-" + secrets.token_hex(6), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "MINIO_ROOT_USER": access,
        "MINIO_ROOT_PASSWORD": secret,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
    }
    (workdir / "minio-data").mkdir(parents=True, exist_ok=True)
    server = processes.start(
        "minio",
        [
            str(binary),
            "server",
            "--quiet",
            f"--address={address}:{port}",
            f"--console-address=127.0.0.1:{console}",
            str(workdir / "minio-data"),
        ],
        log=workdir / "logs" / "minio.log",
        env=env,
        die_with_parent=die_with_parent,
    )
    endpoint = f"{address}:{port}"
    processes.wait_until(
        server,
        lambda: processes.http_ok(f"http://{endpoint}/minio/health/ready"),
        timeout=timeout,
        what="ready",
    )
    return MinioInfo(endpoint=endpoint, pid=server.pid, access_key=access, secret_key=secret)
