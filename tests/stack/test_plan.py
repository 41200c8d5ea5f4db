"""stack/plan.py and stack/settings.py: what `up` would run, as plain values; nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.settings import minio_kms_key
from common.errors import ConfigError
from harness.minio_server import ROOT
from stack.plan import (
    MINIO_HEALTH_PATH,
    SIGNER_HEALTH_PATH,
    PortCheck,
    StackPlan,
    Tools,
    cluster_nodes,
    plan_stack,
    port_check,
    procfile,
)
from stack.settings import load, read
from tests.native_stack import TOOLS, example_config, plan_settings


def test_defaults_and_precedence(tmp_path: Path) -> None:
    s = load({}, {})
    assert (s.api_port, s.console_port, s.signer_port, s.minio_console_port) == (
        9000,
        9090,
        8080,
        9001,
    )
    assert s.data_dir == ROOT / ".data" and s.env_file == ROOT / ".env"
    # The shell wins over .env, .env over the defaults (Compose's interpolation order).
    s = load({"STACK_API_PORT": "9100"}, {"STACK_API_PORT": "9200", "STACK_SIGNER_PORT": "8181"})
    assert (s.api_port, s.signer_port) == (9100, 8181)


def test_bad_and_clashing_ports_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load({"STACK_API_PORT": "http", "STACK_SIGNER_PORT": "9090"}, {})
    assert [name for name, _ in info.value.problems] == ["STACK_API_PORT", "STACK_SIGNER_PORT"]


def test_read_returns_every_problem_and_usable_settings() -> None:
    # `up` plans with these to check the programs' settings too, then lists it all at once.
    s, problems = read({"STACK_API_PORT": "http", "STACK_SIGNER_PORT": "9000"}, {})
    assert s.api_port == 9000 and s.signer_port == 9000  # the bad value at its default...
    # ...which is no clash: 9000 is not what the user chose for STACK_API_PORT.
    assert problems == [
        ("STACK_API_PORT", "'http' is not a TCP port; use a number from 1 to 65535"),
    ]


def test_each_process_gets_only_its_share(tmp_path: Path) -> None:
    config = {**example_config(), "MINIO_REGION": "eu-central-1"}
    inherited = {
        "PATH": "/usr/bin",
        "HOME": "/home/dev",
        "MINIO_ROOT_PASSWORD": "from-the-shell",
        "PORT": "1",
        "SIGNER_S3_ENDPOINT": "http://elsewhere:1",
    }
    plan = plan_stack(plan_settings(tmp_path), config, inherited, TOOLS)
    minio, signer, console = plan.processes
    assert minio.env["PATH"] == "/usr/bin"
    # .env is the configuration: the shell's MINIO_*/SIGNER_*/PORT never leak in.
    assert minio.env["MINIO_ROOT_PASSWORD"] == config["MINIO_ROOT_PASSWORD"]
    assert signer.env["SIGNER_S3_ENDPOINT"] == "http://127.0.0.1:9000"
    assert console.env["PORT"] == "9090"
    # The signer never sees the root password; MinIO never sees the signer's API tokens.
    assert "MINIO_ROOT_PASSWORD" not in signer.env
    assert "SIGNER_API_TOKENS" not in minio.env and "SIGNER_TOKEN_SECRETS" not in minio.env
    # Bootstrap creates the signer's identity, so MinIO's process has it.
    assert minio.env["SIGNER_SECRET_KEY"] == signer.env["SIGNER_SECRET_KEY"]
    # MinIO's region is the one the signer signs for, unless S3_REGION says otherwise.
    assert minio.env["MINIO_REGION"] == signer.env["MINIO_REGION"] == "eu-central-1"
    assert minio.env["MINIO_BROWSER_REDIRECT_URL"] == "http://127.0.0.1:9090"
    assert minio.env["MINIO_SERVER_URL"] == "http://127.0.0.1:9000"
    assert set(console.env) - {"PATH", "HOME"} == {
        "PORT",
        "CONSOLE_UPSTREAM_HOST",
        "CONSOLE_UPSTREAM_PORT",
    }
    # The manager itself runs with the basics only: no secret, nothing the stack manages.
    assert plan.manager_env == {"PATH": "/usr/bin", "HOME": "/home/dev"}


def test_commands_are_the_images_commands(tmp_path: Path) -> None:
    s = plan_settings(tmp_path, STACK_API_PORT="9300", STACK_MINIO_CONSOLE_PORT="9301")
    minio, signer, console = plan_stack(s, example_config(), {}, TOOLS).processes
    assert minio.argv[:3] == ("/x/minio-stack", "entrypoint", "--")
    assert minio.argv[3:] == (
        "/x/minio",
        "server",
        str(tmp_path / "data" / "minio"),
        "--address",
        "127.0.0.1:9300",
        "--console-address",
        "127.0.0.1:9301",
    )
    assert signer.argv == ("/x/minio-stack", "signer", "serve")
    assert "console.render" in console.argv and "daemon off;" in console.argv
    assert minio.command.startswith("exec ")
    text = procfile((minio, signer, console))
    assert "console: exec /x/python -m console.render" in text
    assert "PASSWORD" not in text and "SECRET" not in text  # no environment in it


def test_a_root_run_gives_nginx_workers_the_invoking_user(tmp_path: Path) -> None:
    as_root = Tools(TOOLS.minio, TOOLS.minio_stack, TOOLS.python, TOOLS.nginx, "dev")
    *_, console = plan_stack(plan_settings(tmp_path), example_config(), {}, as_root).processes
    assert console.argv[console.argv.index("--worker-user") + 1] == "dev"


def test_the_plan_names_what_to_make_check_and_wait_for(tmp_path: Path) -> None:
    s = plan_settings(tmp_path)
    plan = plan_stack(s, example_config(), {}, TOOLS)
    data = tmp_path / "data"
    assert plan.names == ("minio", "signer", "console")
    assert plan.directories == (data, data / "minio", data / "nginx")
    assert [f.path for f in plan.files] == [data / "Procfile"]
    assert plan.files[0].text == procfile(plan.processes)
    assert plan.ports == PortCheck(s.ports())
    assert dict(plan.health) == {
        "MinIO API": "http://127.0.0.1:9000" + MINIO_HEALTH_PATH,
        "signer": "http://127.0.0.1:8080" + SIGNER_HEALTH_PATH,
        "console proxy": "http://127.0.0.1:9090/healthz",
        "console": "http://127.0.0.1:9090/",
    }
    assert plan.paths.log == data / "stack.log"


def test_a_cluster_plan_adds_drives_the_balancer_and_node_ports(tmp_path: Path) -> None:
    plan: StackPlan = plan_stack(plan_settings(tmp_path), example_config(), {}, TOOLS, nodes=2)
    data = tmp_path / "data"
    assert plan.names == ("minio", "minio2", "balancer", "signer", "console")
    drives = [data / "minio-cluster" / f"node{n}" / f"d{d}" for n in (1, 2) for d in (1, 2)]
    assert plan.directories[3:] == (*drives, data / "balancer")
    balancer, procfile_ = plan.files
    assert balancer.path == data / "balancer" / "nginx.conf"
    assert "server 127.0.0.1:9101" in balancer.text and "server 127.0.0.1:9102" in balancer.text
    assert procfile_.path == data / "Procfile"
    assert "STACK_MINIO_CONSOLE_PORT" not in plan.ports.wanted  # each node has its own
    assert plan.ports.wanted["STACK_API_PORT+202 (node 2)"] == 9202
    assert plan.ports.clashes == ()
    # `up` waits for every node to have initialised, not only for the balancer to answer.
    assert list(plan.health)[:3] == [
        ("MinIO node 1", "http://127.0.0.1:9101/minio/health/cluster"),
        ("MinIO node 2", "http://127.0.0.1:9102/minio/health/cluster"),
        ("MinIO API", "http://127.0.0.1:9000" + MINIO_HEALTH_PATH),
    ]


def test_every_node_gets_the_same_kms_key_in_minios_form(tmp_path: Path) -> None:
    # Node 1's entrypoint turns a plain secret into MinIO's name:base64 form; the other nodes
    # run plain MinIO, so the plan hands them that form.
    secret = "a-generated-secret-of-more-than-32-characters"
    config = {**example_config(), "MINIO_KMS_SECRET_KEY": secret}
    minio, minio2, *_ = plan_stack(plan_settings(tmp_path), config, {}, TOOLS, nodes=2).processes
    assert minio.env["MINIO_KMS_SECRET_KEY"] == secret
    assert minio2.env["MINIO_KMS_SECRET_KEY"] == minio_kms_key(secret)
    generated = example_config()  # env-init writes MinIO's form, which every node takes as is
    nodes = plan_stack(plan_settings(tmp_path), generated, {}, TOOLS, nodes=2).processes[:2]
    assert {n.env["MINIO_KMS_SECRET_KEY"] for n in nodes} == {generated["MINIO_KMS_SECRET_KEY"]}
    with pytest.raises(ConfigError, match="MINIO_KMS_SECRET_KEY") as caught:
        plan_stack(
            plan_settings(tmp_path),
            {**config, "MINIO_KMS_SECRET_KEY": "tiny-value"},
            {},
            TOOLS,
            nodes=2,
        )
    assert "tiny-value" not in caught.value.message


def test_a_node_port_on_a_stack_port_is_a_clash_found_without_the_machine(tmp_path: Path) -> None:
    s = plan_settings(tmp_path, STACK_SIGNER_PORT="9101")
    check = port_check(s, cluster_nodes(s, 2))
    assert [name for name, _ in check.clashes] == ["STACK_API_PORT+101 (node 1)"]
    assert "STACK_SIGNER_PORT" in check.clashes[0][1]
