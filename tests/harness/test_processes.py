"""harness/processes.py: loopback ports for test servers, never the same one twice in a run."""

from __future__ import annotations

import socket

from harness.processes import free_port, free_port_block, port_is_free
from stack.plan import NODE_API_OFFSET, NODE_CONSOLE_OFFSET
from stack.settings import DEFAULT_PORTS
from tests.native_stack import api_port_for_nodes, native_env


def test_free_port_never_repeats() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(port_is_free(p) for p in ports)


def test_a_block_is_free_and_never_handed_out_again() -> None:
    offsets = (1, 2, 101, 201)
    base = free_port_block(offsets)
    block = {base, *(base + o for o in offsets)}
    for port in block:  # free now: each binds
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    later = {free_port() for _ in range(300)}
    second = free_port_block(offsets)
    assert not block & later
    assert not block & {second, *(second + o for o in offsets)}


def test_a_native_stacks_ports_are_its_own(tmp_path) -> None:
    # Two stacks of one run, one of them distributed: no port is given twice, node ports
    # (STACK_API_PORT+101.., +201..) included.
    api = api_port_for_nodes(4)
    nodes = {api + o + i for o in (NODE_API_OFFSET, NODE_CONSOLE_OFFSET) for i in range(1, 5)}
    first = native_env(tmp_path / "a", api_port=api)
    second = native_env(tmp_path / "b")
    ports = [int(env[name]) for env in (first, second) for name in DEFAULT_PORTS]
    assert len(ports) == 8 and len(set(ports)) == 8
    assert not nodes & set(ports)
