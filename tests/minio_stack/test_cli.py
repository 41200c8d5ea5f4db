"""The root command only wires each package's commands, and `python -m minio_stack` is it too."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest
from click.testing import CliRunner

from bootstrap import cli as bootstrap_cli
from minio_stack.cli import main
from rotation import cli as rotation_cli
from signer import cli as signer_cli
from stack import cli as stack_cli


def test_the_root_group_has_exactly_the_packages_commands() -> None:
    expected = {
        command.name
        for package in (bootstrap_cli, signer_cli, stack_cli, rotation_cli)
        for command in package.COMMANDS
    }
    assert set(main.commands) == expected


def test_python_dash_m_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "minio_stack", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: minio-stack ")
    for name in main.commands:
        assert f"  {name} " in result.stdout


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"], prog_name="minio-stack")
    assert result.exit_code == 0
    assert result.output.startswith("minio-stack, version ")


@pytest.mark.parametrize("package", [bootstrap_cli, signer_cli, stack_cli, rotation_cli])
def test_each_package_runs_alone_with_python_dash_m(package: ModuleType) -> None:
    name = package.__name__.split(".")[0]
    result = subprocess.run(
        [sys.executable, "-m", name, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: python -m {name} ")
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line}
    assert listed == {command.name for command in package.COMMANDS}
