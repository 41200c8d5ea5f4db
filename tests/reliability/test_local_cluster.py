"""`make up NODES=4`: the native stack with a distributed MinIO (stack/plan.py, supervisor.py).

What `up --nodes 4` would run (4 MinIO processes with one argument list, a balancer, the
signer and the console), its balancer config checked by the real nginx and against the
compose file's, then the real thing end to end: up, an upload through the signer, every drive
online, down with nothing left behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from minio.credentials import StaticProvider

from common.errors import ConfigError
from harness.minio_server import MINIO_BINARY, free_port
from minio import MinioAdmin
from stack import plan as stack_plan
from stack import preflight
from stack.settings import StackSettings, load
from tests.console.nginx_proxy import NGINX
from tests.minio_cluster import compose_balancer_config
from tests.native_stack import (
    TOOLS,
    LocalStack,
    alive,
    api_port_for_nodes,
    example_config,
    native_env,
    plan_settings,
)

NODES = 4


def _stack(tmp_path: Path, api_port: int = 9000) -> StackSettings:
    return plan_settings(tmp_path, STACK_API_PORT=str(api_port))


def _arg(argv: tuple[str, ...], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _endpoints(argv: tuple[str, ...]) -> list[str]:
    return [a for a in argv if a.startswith("http://")]


# --- the plan ----------------------------------------------------------------------------------


def test_four_nodes_one_argument_list_and_a_balancer(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    processes = stack_plan.plan_stack(
        stack, example_config(), {"PATH": "/usr/bin"}, TOOLS, NODES
    ).processes
    by_name = {p.name: p for p in processes}
    assert list(by_name) == ["minio", "minio2", "minio3", "minio4", "balancer", "signer",
                             "console"]  # fmt: skip
    nodes = [by_name["minio"], *(by_name[f"minio{i}"] for i in range(2, NODES + 1))]
    lists = {tuple(_endpoints(p.argv)) for p in nodes}
    assert len(lists) == 1, "every node must get the same endpoint list"
    endpoints = lists.pop()
    assert len(endpoints) == len(set(endpoints)) == NODES * stack_plan.DRIVES_PER_NODE
    addresses = [_arg(p.argv, "--address") for p in nodes]
    assert addresses == [f"127.0.0.1:{9100 + i}" for i in range(1, NODES + 1)]
    for node, address in zip(nodes, addresses, strict=True):
        mine = [e for e in endpoints if e.startswith(f"http://{address}/")]
        assert len(mine) == stack_plan.DRIVES_PER_NODE
        assert all(e.split(address, 1)[1].startswith(str(tmp_path / "data" / "minio-cluster"))
                   for e in mine)  # fmt: skip
        assert node.env["_MINIO_SERVER_LOCAL"] == address
        assert node.env["MINIO_SERVER_URL"] == stack.api_url  # the balancer
    # Node 1 runs under the entrypoint (bootstrap once); the others are plain MinIO without
    # the signer's keys.
    assert nodes[0].argv[1:3] == ("entrypoint", "--")
    assert "SIGNER_SECRET_KEY" in nodes[0].env
    for node in nodes[1:]:
        assert node.argv[0] == str(TOOLS.minio)
        assert not [k for k in node.env if k.startswith("SIGNER_")]
    assert by_name["signer"].env["SIGNER_S3_ENDPOINT"] == stack.api_url
    assert by_name["console"].env["CONSOLE_UPSTREAM_PORT"] == str(9201)
    preflight.validate(processes, stack)


def test_one_node_is_the_plan_it_always_was(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    single = stack_plan.plan_stack(stack, example_config(), {}, TOOLS).processes
    assert [p.name for p in single] == ["minio", "signer", "console"]
    assert _endpoints(single[0].argv) == []
    assert _arg(single[0].argv, "--address") == "127.0.0.1:9000"


def test_node_ports_must_fit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        stack_plan.cluster_nodes(_stack(tmp_path, api_port=65400), NODES)
    assert info.value.problems[0][0] == "STACK_API_PORT"
    with pytest.raises(ConfigError):
        stack_plan.cluster_nodes(_stack(tmp_path), stack_plan.MAX_NODES + 1)


def test_a_node_port_on_a_stack_port_is_reported(tmp_path: Path) -> None:
    stack = load({"STACK_DATA_DIR": str(tmp_path), "STACK_API_PORT": "9000",
                  "STACK_SIGNER_PORT": "9102"}, {})  # fmt: skip
    problems = dict(
        preflight.busy_ports(stack_plan.port_check(stack, stack_plan.cluster_nodes(stack, NODES)))
    )
    assert "STACK_SIGNER_PORT" in problems["STACK_API_PORT+102 (node 2)"]


def _location_directives(config: str) -> set[str]:
    """The proxy directives of the API's ``location /`` block, normalised."""
    block = config.split("location / {", 1)[1].split("}", 1)[0]
    lines = {re.sub(r"\s+", " ", line.split("#")[0].strip()) for line in block.splitlines()}
    return {line for line in lines if line}


def test_the_balancer_is_the_compose_files_balancer(tmp_path: Path) -> None:
    config = stack_plan.balancer_config(
        _stack(tmp_path), stack_plan.cluster_nodes(_stack(tmp_path), NODES), None
    )
    assert _location_directives(config) == _location_directives(compose_balancer_config())
    for directive in ("client_max_body_size 0;", "proxy_request_buffering off;", "least_conn;"):
        assert directive in config and directive in compose_balancer_config()


@pytest.mark.skipif(not NGINX.exists(), reason=f"{NGINX} not installed")
def test_nginx_accepts_the_balancer_config(tmp_path: Path) -> None:
    stack = _stack(tmp_path, api_port=free_port())
    prefix = tmp_path / "balancer"
    prefix.mkdir()
    user = "root" if os.geteuid() == 0 else None
    nodes = stack_plan.cluster_nodes(stack, NODES)
    (prefix / "nginx.conf").write_text(stack_plan.balancer_config(stack, nodes, user))
    checked = subprocess.run(
        [str(NGINX), "-t", "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "stderr"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


# --- the real thing ----------------------------------------------------------------------------


def _room_for_nodes() -> int:
    """A free API port whose node ports (+101..+104, +201..+204) are free too."""
    return api_port_for_nodes(NODES)


@pytest.fixture
def cluster_stack(tmp_path: Path) -> Iterator[LocalStack]:
    if not (NGINX.exists() and MINIO_BINARY.exists()):
        pytest.skip("needs nginx and .cache/bin/minio")
    stack = LocalStack(tmp_path, native_env(tmp_path, api_port=_room_for_nodes()))
    yield stack
    stack.tear_down()


@pytest.mark.slow
def test_make_up_nodes_4_runs_a_distributed_minio(cluster_stack: LocalStack) -> None:
    up = cluster_stack.run("up", "--nodes", str(NODES), "--json", timeout=300)
    assert up.returncode == 0, up.stderr[-3000:] + up.stdout
    assert json.loads(up.stdout)["data"].endswith("minio-cluster")

    body = b"stored on 4 nodes x 2 drives\n"
    key = cluster_stack.upload_via_signer(body, signed_for=cluster_stack.url("API"))
    assert cluster_stack.download(key).content == body
    config = cluster_stack.config()
    admin = MinioAdmin(
        endpoint=cluster_stack.url("API").removeprefix("http://"),
        credentials=StaticProvider(config["MINIO_ROOT_USER"], config["MINIO_ROOT_PASSWORD"]),
        secure=False,
    )
    backend = json.loads(admin.info())["backend"]
    assert (backend["backendType"], backend["onlineDisks"]) == ("Erasure", 8)
    assert backend["totalDrivesPerSet"] == [8]
    drives = sorted((cluster_stack.data_dir / "minio-cluster").glob("node*/d*"))
    assert len(drives) == 8 and all((d / ".minio.sys").is_dir() for d in drives)
    # Through the balancer: cluster health, and the browser redirect to the console.
    health = requests.get(cluster_stack.url("API") + "/minio/health/cluster", timeout=5)
    assert health.status_code == 200

    running = cluster_stack.processes()
    down = cluster_stack.run("down", "--mode", "native", timeout=60)
    assert down.returncode == 0 and "had to kill" not in down.stdout, down.stdout + down.stderr
    assert [p for p in running if alive(p)] == []
