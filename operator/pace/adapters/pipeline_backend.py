"""Compile the training pipeline and run it: locally with kfp.local, or on Kubeflow Pipelines.

The only module that imports kfp's compiler, `kfp.local` and `kfp.Client`.

- `compile_for_spec` compiles `pace_components.training_pipeline` with the spec's values
  bound as parameter defaults, cached by spec hash (the IR is kept with each version).
- `LocalBackend` runs the IR in a detached worker process (this module's ``worker``
  command) with kfp.local's SubprocessRunner, so kopf's event loop never blocks and a run
  survives an operator restart. The worker writes ``status.json`` (state, current step,
  failing step and message, output) that `status` reads.
- `KfpBackend` submits the same IR to a Kubeflow Pipelines API (v2beta1) and polls it.

Both are idempotent by run name: submitting a run that exists does not start another.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from pace.adapters import warm_steps
from pace.core.pipeline_plan import PipelineRequest, StepSettings, imports_model

log = logging.getLogger(__name__)

TERMINAL = ("Succeeded", "Failed")
PIPELINE_INTERFACE = 5  # bumped when training_pipeline's parameters change (5: spec.model)
_TASK_RE = re.compile(r"Executing task \S*'([\w-]+)'")
_TASK_FAILED_RE = re.compile(r"Task \S*'([\w-]+)'\S* finished with status \S*FAILURE")
_ERROR_RE = re.compile(r"^\s*([A-Za-z_.]*(?:Error|Exception)): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class RunState:
    """What a backend knows about one run."""

    state: str  # Pending | Running | Succeeded | Failed | Lost | NotFound
    step: str | None = None
    message: str = ""
    output: str | None = None  # the lineage URI returned by register_model
    failed_step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PipelineBackend(Protocol):
    """Where pipelines run."""

    name: str

    def submit(self, request: PipelineRequest, ir_path: Path, *, env: Mapping[str, str]) -> None:
        """Start the run unless a run of that name exists."""

    def status(self, request: PipelineRequest) -> RunState:
        """The run's state."""


def compile_for_spec(
    *,
    spec_hash: str,
    parameters: dict[str, Any],
    cache_dir: Path,
    steps: StepSettings | None = None,
) -> tuple[Path, bool]:
    """Compile the training pipeline for one spec; return (IR path, came from the cache).

    ``steps``: what each step gets on a real Kubeflow (the store's address, its keys by Secret
    reference); None for the local runner, whose steps inherit the operator's environment.
    The cache key carries the pipeline's interface version (an IR compiled before the
    pipeline's parameters changed is never run with the new arguments) and the step
    settings."""
    suffix = f".{steps.digest()}" if steps is not None else ""
    path = cache_dir / f"{spec_hash}.i{PIPELINE_INTERFACE}{suffix}.yaml"
    if path.is_file():
        return path, True
    from kfp import compiler

    from pace_components.training_pipeline import build, training_pipeline

    imported = imports_model(parameters)
    pipeline = (
        training_pipeline if steps is None and not imported else build(steps, imported=imported)
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{spec_hash}.{uuid.uuid4().hex}.yaml")
    compiler.Compiler().compile(pipeline, str(tmp), pipeline_parameters=parameters)
    tmp.replace(path)
    return path, False


BATCH_INTERFACE = 1  # bumped when batch_pipeline's parameters change


def compile_batch(*, cache_dir: Path, steps: StepSettings | None = None) -> Path:
    """Compile the batch scoring pipeline (all its parameters are run-time), cached by its
    interface version and the step settings."""
    suffix = f".{steps.digest()}" if steps is not None else ""
    path = cache_dir / f"batch.b{BATCH_INTERFACE}{suffix}.yaml"
    if path.is_file():
        return path
    from kfp import compiler

    from pace_components.batch_pipeline import build

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".batch.{uuid.uuid4().hex}.yaml")
    compiler.Compiler().compile(build(steps), str(tmp))
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- local backend


class LocalBackend:
    """kfp.local SubprocessRunner in a detached worker process, one directory per run."""

    name = "local"
    steps: StepSettings | None = None  # the steps inherit the worker's environment

    def __init__(self, root: Path) -> None:
        self.root = root
        self.steps_server: subprocess.Popen[bytes] | None = None

    def run_dir(self, request: PipelineRequest) -> Path:
        return self.root / request.namespace / request.run_name

    def start_warm(self) -> bool:
        """Start the warm step server (runs after this start warm); False if it did not come
        up (runs then start cold, as before)."""
        if self.steps_server is None or self.steps_server.poll() is not None:
            try:
                self.steps_server = warm_steps.spawn_server(steps_socket(self.root))
            except OSError as exc:  # e.g. the runs folder cannot be made: runs report that
                log.warning("warm step server not started (runs start cold): %s", exc)
                self.steps_server = None
        return self.steps_server is not None

    def stop_warm(self) -> None:
        """Stop the server; runs it started go on (their remaining steps start cold)."""
        if self.steps_server is not None and self.steps_server.poll() is None:
            self.steps_server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.steps_server.wait(10)
        self.steps_server = None

    def submit(self, request: PipelineRequest, ir_path: Path, *, env: Mapping[str, str]) -> None:
        run_dir = self.run_dir(request)
        current = self.status(request)
        retried = int((_read_status(run_dir) or {}).get("retry", 0))
        again = current.state == "Failed" and retried < request.retry
        if current.state in ("Pending", "Running", *TERMINAL) and not again:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "args.json").write_text(json.dumps(request.arguments(), sort_keys=True))
        (run_dir / "pipeline.yaml").write_bytes(ir_path.read_bytes())
        _write_status(
            run_dir,
            {"state": "Pending", "attempt": _attempt(run_dir) + 1, "retry": request.retry},
        )
        with open(run_dir / "worker.log", "ab") as log:
            pid = warm_steps.start_worker(
                run_dir,
                socket_path=steps_socket(self.root),
                log=log.fileno(),
                env={**os.environ, **env},
            )
            if pid is not None:
                (run_dir / "worker.pid").write_text(str(pid))
                return
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pace.adapters.pipeline_backend",
                    "worker",
                    "--run-dir",
                    str(run_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                start_new_session=True,
            )
        (run_dir / "worker.pid").write_text(str(proc.pid))

    def status(self, request: PipelineRequest) -> RunState:
        run_dir = self.run_dir(request)
        raw = _read_status(run_dir)
        if raw is None:
            return RunState("NotFound")
        state = RunState(
            state=raw.get("state", "Pending"),
            step=raw.get("step"),
            message=raw.get("message", ""),
            output=raw.get("output"),
            failed_step=raw.get("failedStep"),
        )
        if state.state in ("Pending", "Running") and not _worker_alive(run_dir):
            # Give a just-spawned worker a moment to write its first status.
            pid_file = run_dir / "worker.pid"
            if pid_file.is_file() and time.time() - pid_file.stat().st_mtime < 5:
                return state
            return RunState(
                "Lost", step=state.step, message="the pipeline worker stopped without a result"
            )
        return state

    def remove(self, request: PipelineRequest) -> None:
        """Delete a finished run's folder (its artifacts are in the registry by then)."""
        run_dir = self.run_dir(request)
        if self.status(request).state in TERMINAL:
            shutil.rmtree(run_dir, ignore_errors=True)

    def cancel(self, request: PipelineRequest) -> None:
        """Stop a running worker (used when a newer spec supersedes the run)."""
        pid = _worker_pid(self.run_dir(request))
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)


def steps_socket(root: Path) -> Path:
    """The warm step server's socket for a runs folder (under /tmp when the folder's path is
    too long for a Unix socket)."""
    path = root / "warm-steps.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pace-steps-{digest}.sock"


def _attempt(run_dir: Path) -> int:
    raw = _read_status(run_dir) or {}
    return int(raw.get("attempt", 0))


def _read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((run_dir / "status.json").read_text()))
    except (OSError, ValueError):
        return None


def _write_status(run_dir: Path, status: dict[str, Any]) -> None:
    tmp = run_dir / f"status.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(status, sort_keys=True))
    tmp.replace(run_dir / "status.json")


def _worker_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / "worker.pid").read_text())
    except (OSError, ValueError):
        return None


def _worker_alive(run_dir: Path) -> bool:
    pid = _worker_pid(run_dir)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except (OSError, ProcessLookupError):
        return False


class _StepTracker(io.TextIOBase):
    """Stands in for stdout, where kfp.local logs each task, to follow the current step."""

    def __init__(self, run_dir: Path, status: dict[str, Any], out: Any) -> None:
        self.run_dir, self.status, self.out = run_dir, status, out

    def write(self, text: str) -> int:
        clean = _ANSI.sub("", text)
        if match := _TASK_RE.search(clean):
            self.status["step"] = match.group(1)
            _write_status(self.run_dir, self.status)
        elif match := _TASK_FAILED_RE.search(clean):
            self.status["failedStep"] = match.group(1)
        return int(self.out.write(text))

    def flush(self) -> None:
        self.out.flush()


def _error_message(log: Path) -> str:
    """The last exception line the failing step printed."""
    try:
        lines = _ANSI.sub("", log.read_text(errors="replace")).splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if match := _ERROR_RE.match(line):
            return f"{match.group(1)}: {match.group(2)}"[:2000]
    return ""


def _warm_tasks(socket_path: Path) -> None:
    """Run each task in the warm step server when it answers (kfp.local's subprocess runner
    otherwise): kfp.local calls ``run_local_subprocess(full_command)`` for every task."""
    from kfp.local import subprocess_task_handler

    cold = subprocess_task_handler.run_local_subprocess

    def run_task(full_command: list[str]) -> int:
        code = warm_steps.run_step(full_command, socket_path=socket_path, out=sys.stdout)
        return cold(full_command) if code is None else code

    subprocess_task_handler.run_local_subprocess = run_task


def run_worker(run_dir: Path) -> int:
    """Body of the worker process: run the IR with kfp.local, keep status.json current."""
    from kfp import components, local

    status: dict[str, Any] = {
        **(_read_status(run_dir) or {}),
        "state": "Running",
        "pid": os.getpid(),
        "startedAt": time.time(),
    }
    _write_status(run_dir, status)
    sys.stdout = _StepTracker(run_dir, status, sys.stdout)  # kfp.local logs tasks to stdout
    args = json.loads((run_dir / "args.json").read_text())
    _warm_tasks(steps_socket(run_dir.parent.parent))
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(run_dir / "root"),
        raise_on_error=True,
    )
    pipeline = components.load_component_from_file(str(run_dir / "pipeline.yaml"))
    try:
        task = pipeline(**args)
        status |= {"state": "Succeeded", "output": task.output, "finishedAt": time.time()}
        code = 0
    except Exception as exc:  # the worker's job is to report any failure
        sys.stdout.flush()
        message = _error_message(run_dir / "worker.log") or str(exc)
        status |= {
            "state": "Failed",
            "message": message,
            "finishedAt": time.time(),
            "failedStep": status.get("failedStep") or status.get("step"),
        }
        code = 1
    _write_status(run_dir, status)
    return code


# ----------------------------------------------------------------------------- kfp backend


def display_name(request: PipelineRequest) -> str:
    """The KFP run's display name: the namespace and the run name (which carries the model's
    uid), so two same-named models in two namespaces never share a run; a resubmission after
    a transient failure is a new run, ``.../<run name>-retry-<n>``."""
    name = f"{request.namespace}/{request.run_name}"
    return f"{name}-retry-{request.retry}" if request.retry else name


class KfpBackend:
    """Kubeflow Pipelines through kfp.Client (API v2beta1); the run's display name is ours
    (``<namespace>/<run name>``, the run name carrying the model's uid).

    The steps get the object store's address and, by Secret reference, its keys (``steps``,
    compiled into the pipeline's platform spec); the ``env`` given to `submit` (the
    operator's own variables, keys included) is never sent to Kubeflow.
    """

    name = "kfp"

    def __init__(self, host: str, *, steps: StepSettings, experiment: str = "pace") -> None:
        import kfp

        self.client = kfp.Client(host=host)
        self.steps: StepSettings | None = steps
        self.experiment = experiment

    def _find(self, run_name: str) -> Any | None:
        flt = json.dumps(
            {
                "predicates": [
                    {"key": "display_name", "operation": "EQUALS", "string_value": run_name}
                ]
            }
        )
        response = self.client.list_runs(filter=flt, page_size=5)
        runs = response.runs or []
        return runs[0] if runs else None

    def submit(self, request: PipelineRequest, ir_path: Path, *, env: Mapping[str, str]) -> None:
        if self._find(display_name(request)) is not None:
            return
        self.client.create_run_from_pipeline_package(
            str(ir_path),
            arguments=request.arguments(),
            run_name=display_name(request),
            experiment_name=self.experiment,
            enable_caching=False,
        )

    def status(self, request: PipelineRequest) -> RunState:
        run = self._find(display_name(request))
        if run is None:
            return RunState("NotFound")
        state = str(run.state or "PENDING").upper()
        mapping = {
            "PENDING": "Pending",
            "RUNNING": "Running",
            "SUCCEEDED": "Succeeded",
            "FAILED": "Failed",
            "CANCELED": "Failed",
            "CANCELING": "Running",
            "PAUSED": "Running",
            "SKIPPED": "Failed",
        }
        tasks = list(getattr(run.run_details, "task_details", None) or [])
        running = [t.display_name for t in tasks if str(t.state).upper() == "RUNNING"]
        failed = [t for t in tasks if str(t.state).upper() == "FAILED"]
        message = ""
        if run.error is not None:
            message = str(getattr(run.error, "message", run.error))
        if failed and not message:
            message = str(getattr(failed[0].error, "message", "") or "")
        return RunState(
            state=mapping.get(state, "Pending"),
            step=running[0] if running else None,
            message=message,
            failed_step=failed[0].display_name if failed else None,
        )


RUN_NICENESS = 10
"""CPU niceness of local runs (a run's worker, its steps, and the warm step server they fork
from): they share the operator's CPUs, and the operator's reconciles come first. A run takes
longer only while the operator (or anything else) wants the CPU."""


def main(argv: list[str] | None = None) -> int:
    with contextlib.suppress(OSError):
        os.nice(RUN_NICENESS)
    parser = argparse.ArgumentParser(prog="python -m pace.adapters.pipeline_backend")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run one pipeline with kfp.local (internal)")
    worker.add_argument("--run-dir", type=Path, required=True)
    steps = sub.add_parser("serve-steps", help="the warm step fork server (internal)")
    steps.add_argument("--socket", type=Path, required=True)
    steps.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve-steps":
        warm_steps.serve(args.socket, worker=run_worker, parent=args.parent)
        return 0
    return run_worker(args.run_dir)


if __name__ == "__main__":
    sys.exit(main())
