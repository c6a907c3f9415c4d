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
    workdir: str = ""  # its data and log folder: `restart` brings the same server back
    console: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def start(
    workdir: Path,
    *,
    die_with_parent: bool = True,
    timeout: float = 60.0,
    address: str = "127.0.0.1",
    same_as: MinioInfo | None = None,
) -> MinioInfo:
    """Start MinIO with fresh random credentials; return when it is ready. ``address``: where
    it listens (the host's address, for Pods of a local node to reach it); ``same_as``: the
    address and credentials of a server that stopped (see `restart`)."""
    binary = binaries.locate("minio")
    if same_as is None:
        port, console = processes.free_port(), processes.free_port()
        access, secret = "pace-" + secrets.token_hex(6), secrets.token_urlsafe(24)
    else:
        address, port_text = same_as.endpoint.rsplit(":", 1)
        port, console = int(port_text), int(same_as.console.rsplit(":", 1)[-1])
        access, secret = same_as.access_key, same_as.secret_key
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
    return MinioInfo(
        endpoint=endpoint,
        pid=server.pid,
        access_key=access,
        secret_key=secret,
        workdir=str(workdir),
        console=f"127.0.0.1:{console}",
    )


def restart(info: MinioInfo, *, die_with_parent: bool = True) -> MinioInfo:
    """Start a stopped server again: same address, keys and data (a crashed store coming back).
    Raises if it was not started by `start` (no workdir) or is still running."""
    if not info.workdir:
        raise ValueError("this MinIO has no workdir on record; start it with minio.start")
    if processes.pid_alive(info.pid):
        raise RuntimeError(f"MinIO (pid {info.pid}) is still running; stop it first")
    return start(Path(info.workdir), die_with_parent=die_with_parent, same_as=info)
