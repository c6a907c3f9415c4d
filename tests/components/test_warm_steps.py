"""Warm steps: the fork server runs a lightweight component's command exactly as the command
would (same executor, same args), and anything else is left to a real subprocess."""

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl, local
from kfp.local import subprocess_task_handler

import pace_components
from pace.adapters import pipeline_backend, warm_steps
from pace.api.mlmodel import MLModelSpec
from pace.core import pipeline_plan


@dsl.component(base_image="python:3.12", install_kfp_package=False)
def parent_pid_plus(offset: int) -> int:
    """Returns the pid of the process that started this step, plus ``offset``."""
    import os

    return os.getppid() + offset


@dsl.component(base_image="python:3.12", install_kfp_package=False)
def fails(message: str) -> int:
    """Raises with ``message``."""
    raise ValueError(message)


def _commands(ir: dict[str, object]) -> dict[str, list[str]]:
    executors = ir["deploymentSpec"]["executors"]  # type: ignore[index]
    return {
        name: [*spec["container"]["command"], *spec["container"]["args"]]
        for name, spec in executors.items()
    }


def test_the_training_pipeline_steps_are_all_lightweight(tmp_path: Path) -> None:
    """Every step of PACE's own pipeline can run warm (none installs packages at run time)."""
    spec = MLModelSpec.model_validate(
        {"task": "classification", "dataset": {"uri": "sklearn://iris", "target": "target"}}
    )
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(
        pace_components.training_pipeline,
        str(path),
        pipeline_parameters=pipeline_plan.spec_parameters(spec),
    )
    commands = _commands(yaml.safe_load(path.read_text()))
    assert len(commands) == 7
    for name, command in commands.items():
        step = warm_steps.parse_command(command)
        assert step is not None, name
        assert step.args[:1] == ["--executor_input"]
        assert f"def {name.removeprefix('exec-').replace('-', '_')}(" in step.code


def test_other_commands_run_as_subprocesses() -> None:
    assert warm_steps.parse_command(["python3", "-m", "kfp.dsl.executor_main"]) is None
    pip = ["sh", "-c", 'python3 -m pip install x && "$0" "$@"', "sh", "-ec", "..."]
    assert warm_steps.parse_command(pip) is None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    socket_path = tmp_path / "steps.sock"
    proc = warm_steps.spawn_server(socket_path)
    assert proc is not None, (tmp_path / "warm-steps.log").read_text()
    cold = subprocess_task_handler.run_local_subprocess
    pipeline_backend._warm_tasks(socket_path)
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=False,
    )
    yield proc, socket_path
    subprocess_task_handler.run_local_subprocess = cold
    proc.terminate()
    proc.wait(10)
    assert not socket_path.exists()


def test_steps_run_in_forks_of_the_warm_server(
    server: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, _socket = server
    # A fork copies one thread: the server must have no other (pyarrow's jemalloc thread is
    # switched off), or forked steps could abort.
    assert len(os.listdir(f"/proc/{proc.pid}/task")) == 1
    task = parent_pid_plus(offset=1)
    # The step's parent is the server: it was forked there, not spawned by this process.
    assert task.output == proc.pid + 1
    assert proc.pid != os.getpid()


def test_a_failing_step_fails_with_its_message(
    server: tuple[subprocess.Popen[bytes], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fails(message="no_such_column")
    printed = capsys.readouterr().out
    assert "ValueError: no_such_column" in printed
    assert "FAILURE" in printed


def test_no_server_means_none(tmp_path: Path) -> None:
    """Without a server the caller falls back to kfp's own subprocess."""
    command = [
        "sh",
        "-ec",
        'program_path=$(mktemp -d)\nprintf \'%s\' "$0" > "$program_path/ephemeral_component.py"'
        "\npython3 -m kfp.dsl.executor_main --component_module_path "
        '"$program_path/ephemeral_component.py" "$@"\n',
        "def f(): pass",
    ]
    assert (
        warm_steps.run_step(command, socket_path=tmp_path / "none.sock", out=io.StringIO()) is None
    )
