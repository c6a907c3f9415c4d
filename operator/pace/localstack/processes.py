"""Start, probe and stop the local stack's server processes, leaving none behind.

Each server runs in its own session (process group) with its output in a log file; stopping
sends SIGTERM to the group, then SIGKILL after a grace period. With ``die_with_parent`` the
kernel also kills it if the starting process dies (tests); `pace local up` turns that off so
servers outlive the command.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """A server did not become ready; the message names it and quotes its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Server:
    """A started server process."""

    name: str
    pid: int
    log: Path

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def pid_alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def start(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = True,
) -> Server:
    """Start one server in its own process group, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    _CHILDREN[proc.pid] = proc
    return Server(name=name, pid=proc.pid, log=log)


def stop(pid: int, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL; reap our own children."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            child = _CHILDREN.get(pid)
            if child is not None and child.poll() is not None:
                break
            if child is None and not pid_alive(pid):
                break
            time.sleep(0.05)
        else:
            continue
        break
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
    # Group members that outlived the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop_many(pids: list[int], *, grace: float = 5.0) -> None:
    """Stop several process groups at once: SIGTERM all, wait, SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        for pid in pids:
            child = _CHILDREN.get(pid)
            if child is not None:
                child.poll()
        time.sleep(0.05)
    for pid in pids:
        stop(pid, grace=0.5)


def wait_until(server: Server, check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming the server, with its log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerStartError(
                f"{server.name} exited while waiting for {what}; log {server.log}:\n{server.tail()}"
            )
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ssl.SSLError):
            pass
        time.sleep(0.2)
    raise ServerStartError(
        f"{server.name} not {what} after {timeout:.0f}s; log {server.log}:\n{server.tail()}"
    )


def http_ok(url: str, *, context: ssl.SSLContext | None = None, expect: str | None = None) -> bool:
    """GET the URL; true on 200 (and the body containing ``expect``, if given)."""
    with urllib.request.urlopen(url, timeout=2, context=context) as resp:
        body = resp.read().decode(errors="replace")
        return bool(resp.status == 200 and (expect is None or expect in body))
