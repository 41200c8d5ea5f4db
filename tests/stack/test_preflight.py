"""stack/preflight.py: the checks before anything starts, each problem named with its fix."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from common.errors import ConfigError, StackError
from harness.processes import free_port
from stack.native import prepare
from stack.plan import PortCheck, plan_stack
from stack.preflight import busy_ports, find_tools, validate
from stack.settings import DEFAULT_PORTS
from tests.native_stack import TOOLS, example_config, plan_settings


def test_validate_reports_every_programs_problems_at_once(tmp_path: Path) -> None:
    config = example_config()
    config.update(MINIO_BUCKET="No", SIGNER_API_TOKENS="short", CONSOLE_MAX_BODY_SIZE="huge")
    s = plan_settings(tmp_path)
    processes = plan_stack(s, config, {}, TOOLS).processes
    with pytest.raises(ConfigError) as info:
        validate(processes, s)
    names = {name.split()[0] for name, _ in info.value.problems}
    assert {"MINIO_BUCKET", "SIGNER_API_TOKENS", "CONSOLE_MAX_BODY_SIZE"} <= names
    assert all(name.endswith("(in .env)") for name, _ in info.value.problems)


def test_the_example_config_is_valid_for_all_three(tmp_path: Path) -> None:
    s = plan_settings(tmp_path)
    validate(plan_stack(s, example_config(), {}, TOOLS).processes, s)


def test_a_port_in_use_is_named_with_the_variable_that_moves_it() -> None:
    free, taken_port = free_port(), free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", taken_port))
        taken.listen()
        problems = busy_ports(
            PortCheck(
                {"STACK_API_PORT": free, "STACK_API_PORT+101 (node 1)": taken_port},
                clashes=(("STACK_API_PORT+102 (node 2)", "port 1 is also STACK_SIGNER_PORT"),),
            )
        )
    assert [name for name, _ in problems] == [
        "STACK_API_PORT+102 (node 2)",  # found by the planner, reported first
        "STACK_API_PORT+101 (node 1)",
    ]
    assert problems[1][1] == (
        f"port {taken_port} on 127.0.0.1 is in use; stop what uses it or set STACK_API_PORT"
    )


def test_a_missing_minio_binary_says_how_to_build_it(tmp_path: Path) -> None:
    elsewhere = dataclasses.replace(plan_settings(tmp_path), root=tmp_path)
    with pytest.raises(StackError) as info:
        find_tools(elsewhere)
    assert "make minio" in info.value.one_line()


def test_prepare_lists_settings_programs_and_ports_together(tmp_path: Path) -> None:
    # Every port of its own (a developer's stack may hold the defaults).
    s = plan_settings(tmp_path, **{name: str(free_port()) for name in DEFAULT_PORTS})
    config = example_config()
    config.update(MINIO_BUCKET="No", CONSOLE_TRUSTED_PROXIES="10.0.0.1/8")
    clash = ("STACK_CONSOLE_PORT", "port 1 is also STACK_MINIO_CONSOLE_PORT")
    with socket.socket() as api, socket.socket() as signer:
        for sock, port in ((api, s.api_port), (signer, s.signer_port)):
            sock.bind(("127.0.0.1", port))
            sock.listen()
        with pytest.raises(ConfigError) as info:
            prepare(s, config, {}, settings_problems=[clash], check_ports=True)
        # A rotation's restart checks the configuration while its own stack holds the ports.
        with pytest.raises(ConfigError) as without_ports:
            prepare(s, config, {}, settings_problems=[clash])
    names = [name for name, _ in info.value.problems]
    assert names == [
        "STACK_CONSOLE_PORT",
        "MINIO_BUCKET (in .env)",
        "CONSOLE_TRUSTED_PROXIES (in .env)",
        "STACK_API_PORT",
        "STACK_SIGNER_PORT",
    ]
    assert [n for n, _ in without_ports.value.problems] == names[:3]


def test_prepare_does_not_report_a_port_already_named_as_bad(tmp_path: Path) -> None:
    s = plan_settings(tmp_path, STACK_SIGNER_PORT=str(free_port()))
    bad = ("STACK_SIGNER_PORT", "port 1 is also STACK_API_PORT")
    with socket.socket() as signer:
        signer.bind(("127.0.0.1", s.signer_port))
        signer.listen()
        with pytest.raises(ConfigError) as info:
            prepare(s, example_config(), {}, settings_problems=[bad], check_ports=True)
    assert [p for p in info.value.problems if p[0].startswith("STACK_SIGNER_PORT")] == [bad]
