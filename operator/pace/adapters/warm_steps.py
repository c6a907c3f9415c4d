"""Warm local pipeline runs: a fork server that has already imported the step libraries.

Each step of a kfp.local SubprocessRunner run is a fresh interpreter that imports pandas,
scikit-learn, pyarrow, kfp and matplotlib again (most of a wine run's 29 s). This module keeps
the KFP executor contract and removes that cost:

- `serve` is a long-lived process (started by the operator's local backend, one per pipeline
  directory, ended with the operator) that imports those libraries once and listens on a Unix
  socket. For each request it forks; the child takes the caller's stdout/stderr (passed as a
  file descriptor, SCM_RIGHTS), environment and working directory, and runs
  - ``step``: exactly what the lightweight component's command does — the component's source
    written to ``ephemeral_component.py`` in a fresh temp dir, then ``python -m
    kfp.dsl.executor_main --component_module_path ... <the task's args>`` with
    ``_KFP_RUNTIME=true`` — only in a warm fork instead of a new interpreter;
  - ``worker``: a whole run's orchestrator (`pipeline_backend.run_worker`) in a new session, so
    the run survives the operator like a cold worker does.
- `run_step` is what the orchestrator calls for each task instead of spawning it (see
  `pipeline_backend.run_worker`): it returns None when the command is not the lightweight
  component shape (a container component, ``pip install`` in the command) or no server answers,
  and the caller then runs the command as a subprocess as kfp would.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

EXECUTOR = "kfp.dsl.executor_main"
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "joblib",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.impute",
    "sklearn.inspection",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.neighbors",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.svm",
    "sklearn.tree",
    "matplotlib.pyplot",
    "minio",
    "kfp.dsl",
    EXECUTOR,
    "pace.adapters.object_store",
    "pace.registry",
    "pace.core.datasets",
    "pace.core.data_validation",
    "pace.core.training",
    "pace.core.evaluation",
    "pace.core.quality_gates",
    "pace.core.explanation",
    "pace.core.drift_reference",
)
# The server must be single-threaded when it forks (a fork copies only the calling thread; a
# library whose threads vanish can abort the child): single-threaded BLAS, and no background
# thread in pyarrow's bundled jemalloc (without this, a step aborted at exit now and then with
# "terminate called without an active exception").
SERVER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


def _threads() -> list[str]:
    tasks = Path("/proc/self/task")
    return [(tasks / t / "comm").read_text().strip() for t in os.listdir(tasks)]


@dataclass(frozen=True)
class StepCommand:
    """A lightweight component's command, taken apart."""

    code: str
    args: list[str]


def parse_command(full_command: Sequence[str]) -> StepCommand | None:
    """The component source and executor args of kfp's lightweight-component command
    (``sh -ec '<write $0 to ephemeral_component.py; python3 -m kfp.dsl.executor_main ...>'
    <source> <args>``); None for any other shape, which must run as a real subprocess."""
    parts = list(full_command)
    if len(parts) < 4 or parts[:2] != ["sh", "-ec"]:
        return None
    script = parts[2]
    if EXECUTOR not in script or "ephemeral_component.py" not in script or "pip install" in script:
        return None
    return StepCommand(code=parts[3], args=parts[4:])


# ----------------------------------------------------------------------------- the client


def _send(sock: socket.socket, request: dict[str, Any], fd: int) -> None:
    payload = json.dumps(request).encode()
    socket.send_fds(sock, [struct.pack("!I", len(payload)) + payload], [fd])


def _connect(socket_path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(socket_path))
    except OSError:
        sock.close()
        return None
    return sock


def run_step(full_command: Sequence[str], *, socket_path: Path, out: TextIO) -> int | None:
    """Run one task's command in a warm fork, streaming its output to ``out``; its exit code,
    or None when it must run as a subprocess instead."""
    step = parse_command(full_command)
    if step is None:
        return None
    sock = _connect(socket_path)
    if sock is None:
        return None
    read_fd, write_fd = os.pipe()
    with sock:
        _send(
            sock,
            {
                "kind": "step",
                "code": step.code,
                "args": step.args,
                "env": dict(os.environ),
                "cwd": os.getcwd(),
            },
            write_fd,
        )
        os.close(write_fd)
        with os.fdopen(read_fd, errors="replace") as output:
            for line in output:
                out.write(line)
        answer = sock.makefile().readline().strip()
    return int(answer) if answer.lstrip("-").isdigit() else 1


def start_worker(run_dir: Path, *, socket_path: Path, log: int, env: dict[str, str]) -> int | None:
    """Start a run's orchestrator as a warm fork in its own session; its pid (None: no server)."""
    sock = _connect(socket_path)
    if sock is None:
        return None
    with sock:
        _send(
            sock,
            {"kind": "worker", "run_dir": str(run_dir), "env": env, "cwd": str(run_dir)},
            log,
        )
        answer = sock.makefile().readline().strip()
    return int(answer) if answer.isdigit() else None


# ----------------------------------------------------------------------------- the server


class _Probe(Exception):
    """A connection that sent nothing (a readiness check)."""


def _receive(conn: socket.socket) -> tuple[dict[str, Any], int]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 1)
    if not data or not fds:
        raise _Probe
    (size,) = struct.unpack("!I", data[:4])
    payload = data[4:]
    while len(payload) < size:
        chunk = conn.recv(size - len(payload))
        if not chunk:
            raise ConnectionError("request cut short")
        payload += chunk
    return json.loads(payload), fds[0]


def _run_step(request: dict[str, Any]) -> int:
    """What the component's ``sh -ec`` script does, in this (forked) interpreter."""
    program = Path(tempfile.mkdtemp()) / "ephemeral_component.py"
    program.write_text(request["code"])
    os.environ["_KFP_RUNTIME"] = "true"
    sys.argv = [EXECUTOR, "--component_module_path", str(program), *request["args"]]
    try:
        runpy.run_module(EXECUTOR, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _child(conn: socket.socket, worker: Callable[[Path], int]) -> None:
    """In the fork: take the caller's output, environment and directory; run; report; exit."""
    # The server's signal handling is not the step's: default reaping, and SIGTERM ends it.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 1
    try:
        request, out = _receive(conn)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        if request["kind"] == "worker":
            os.setsid()
            conn.sendall(f"{os.getpid()}\n".encode())
            code = worker(Path(request["run_dir"]))
        else:
            code = _run_step(request)
    except _Probe:
        os._exit(0)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(f"{code}\n".encode())
        os._exit(code)


def serve(socket_path: Path, *, worker: Callable[[Path], int], parent: int | None = None) -> None:
    """Import the step libraries, then fork per request until the parent process is gone."""
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    os.environ.update(SERVER_ENV)
    for module in PRELOAD:
        with contextlib.suppress(Exception):
            __import__(module)
    threads = _threads()
    if len(threads) > 1:  # never fork a multi-threaded process: runs stay cold instead
        print(f"warm steps disabled: the server has threads {threads}", file=sys.stderr)
        return
    socket_path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(socket_path))
    server.listen(64)
    server.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        while not stopping and (parent is None or os.getppid() == parent):
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if os.fork() == 0:
                server.close()
                _child(conn, worker)
            conn.close()
    finally:
        server.close()
        socket_path.unlink(missing_ok=True)


def spawn_server(socket_path: Path, *, wait: float = 60.0) -> subprocess.Popen[bytes] | None:
    """Start `serve` for this process (it ends when this process does); None if it did not
    answer within ``wait`` seconds (runs then start cold)."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    log = (socket_path.parent / "warm-steps.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pace.adapters.pipeline_backend",
            "serve-steps",
            "--socket",
            str(socket_path),
            "--parent",
            str(os.getpid()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **SERVER_ENV},
    )
    log.close()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        sock = _connect(socket_path)
        if sock is not None:
            sock.close()
            return proc
        time.sleep(0.1)
    proc.terminate()
    return None
