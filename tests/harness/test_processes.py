"""harness/processes.py: loopback ports for test servers, never the same one twice in a run;
children started and waited for until they answer, or failed with their log's words."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from harness.processes import (
    answers_ok,
    free_port,
    free_port_block,
    port_is_free,
    start_answering,
    stop_process,
)
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


def serve(port: int) -> list[str]:
    """A child that says something in its log, then answers 200 on 127.0.0.1:port."""
    script = (
        "import http.server, sys\n"
        "print('serving', flush=True)\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()\n"
    )
    return [sys.executable, "-c", script]


def test_a_child_is_returned_once_it_answers(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_answering(
        serve(port),
        tmp_path / "log",
        lambda: answers_ok(url),
        what="a server",
        timeout=30,
        cwd=tmp_path,
    )
    try:
        assert proc.poll() is None and answers_ok(url)
    finally:
        stop_process(proc)
    assert not answers_ok(url)


def test_a_child_that_exits_first_is_named_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('no such bucket: nope'); raise SystemExit(3)"]
    with pytest.raises(RuntimeError) as caught:
        start_answering(command, tmp_path / "log", lambda: False, what="the signer", timeout=30)
    assert str(caught.value) == "the signer exited with 3:\nno such bucket: nope"


def test_a_child_that_never_answers_is_stopped(tmp_path: Path) -> None:
    port = free_port()
    # It listens, but the readiness check asks somewhere else: never ready.
    with pytest.raises(RuntimeError) as caught:
        start_answering(
            serve(port),
            tmp_path / "log",
            lambda: False,
            what="companion",
            timeout=1,
            cwd=tmp_path,
        )
    assert str(caught.value) == "companion was not ready in 1s:\nserving"
    assert not answers_ok(f"http://127.0.0.1:{port}/")  # stopped, not left running
