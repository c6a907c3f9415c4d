"""`pace` argument handling that needs no stack: every command's --help, `local --node`."""

from __future__ import annotations

import pytest

from pace import cli


def test_node_goes_with_up_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["local", "down", "--node"]) == 2
    assert "--node goes with `up` only" in capsys.readouterr().err


def test_local_help_names_the_node_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["local", "--help"])
    assert "--node" in capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    [[], *([c] for c in cli.EXAMPLES)],
)
def test_every_command_has_help_with_examples(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`pace --help` used to crash (a `%` in a help string); each command now shows help and
    at least one example."""
    assert set(cli.EXAMPLES) >= {"promote", "versions", "history"}
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "pace " in out.split("examples:", 1)[1]


def test_the_cli_is_also_a_kubectl_plugin() -> None:
    """kubectl runs `kubectl-pace` from PATH for `kubectl pace ...`."""
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["kubectl-pace"] == scripts["pace"] == "pace.cli:main"
