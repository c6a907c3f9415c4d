"""`pace local` argument handling that needs no stack."""

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
