"""console/render.py: settings from the environment, the rendered config, and `nginx -t` on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError
from console.render import ConsoleSettings, parse_resolver, render, write_config
from harness.minio_server import ROOT
from tests.console.nginx_proxy import NGINX, nginx_command, render_command

LOOPBACK = {"CONSOLE_UPSTREAM_HOST": "127.0.0.1", "CONSOLE_UPSTREAM_PORT": "9001"}

needs_nginx = pytest.mark.skipif(
    not NGINX.exists(), reason=f"{NGINX} not installed (apt-get install nginx)"
)


def rendered(environ: dict[str, str], **kwargs) -> str:
    return render(ConsoleSettings.from_env(environ), **kwargs)


def test_defaults() -> None:
    settings = ConsoleSettings.from_env({})
    assert settings.port == 9090
    assert settings.upstream == "127.0.0.1:9001"
    assert settings.max_body_size == 0
    assert settings.allowed_hosts == ()
    assert settings.resolver == ""


@pytest.mark.parametrize(
    "directive",
    [
        "proxy_set_header Host $host$host_port;",
        "client_max_body_size 0;",
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        "proxy_http_version 1.1;",
        "chunked_transfer_encoding off;",
        "ignore_invalid_headers off;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "location = /healthz",
        "listen 0.0.0.0:9090 default_server;",
        "proxy_pass http://127.0.0.1:9001;",
    ],
)
def test_rendered_config_has(directive: str) -> None:
    assert directive in rendered(LOOPBACK)


def test_no_cors_headers_added() -> None:
    # MinIO sets CORS itself (api cors_allow_origin); a second set would make browsers refuse.
    assert "Access-Control-" not in rendered(LOOPBACK)


def test_every_directive_has_its_reason_in_the_template() -> None:
    template = (ROOT / "console" / "nginx.conf.j2").read_text()
    for directive in (
        "proxy_buffering off",
        "client_max_body_size",
        "ignore_invalid_headers",
        "chunked_transfer_encoding",
        "proxy_http_version",
        "proxy_set_header Host",
    ):
        lines = template.splitlines()
        index = next(i for i, line in enumerate(lines) if directive in line)
        above = "\n".join(lines[max(0, index - 3) : index])
        assert "#" in above, f"{directive} has no comment saying why"


def test_port_cap_hosts_and_resolver_are_rendered() -> None:
    text = rendered(
        {
            **LOOPBACK,
            "PORT": "10000",
            "CONSOLE_MAX_BODY_SIZE": "5GiB",
            "CONSOLE_ALLOWED_HOSTS": "console.example.com, Admin.Example.com",
            "CONSOLE_RESOLVER": "127.0.0.11",
        },
        listen_host="127.0.0.1",
    )
    assert f"client_max_body_size {5 * 1024**3};" in text
    assert "server_name console.example.com admin.example.com;" in text
    assert "listen 127.0.0.1:10000 default_server;" in text  # the catch-all answers 421
    assert "return 421;" in text
    assert "resolver 127.0.0.11 valid=10s" in text
    assert "set $console_upstream 127.0.0.1:9001;" in text


def test_worker_user_only_when_asked() -> None:
    assert "\nuser " not in rendered(LOOPBACK)
    assert "\nuser root;" in rendered(LOOPBACK, worker_user="root")


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        ConsoleSettings.from_env(
            {
                "PORT": "http",
                "CONSOLE_UPSTREAM_PORT": "70000",
                "CONSOLE_MAX_BODY_SIZE": "big",
                "CONSOLE_ALLOWED_HOSTS": "https://x.example.com",
                "CONSOLE_RESOLVER": "dns.google",
                "CONSOLE_UPSTREAM_HOST": "minio server",
            }
        )
    names = [name for name, _ in info.value.problems]
    assert names == [
        "PORT",
        "CONSOLE_UPSTREAM_HOST",
        "CONSOLE_UPSTREAM_PORT",
        "CONSOLE_MAX_BODY_SIZE",
        "CONSOLE_ALLOWED_HOSTS",
        "CONSOLE_RESOLVER",
    ]


def test_resolver_auto_reads_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example.com\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n")
    assert parse_resolver("auto", conf) == "10.0.0.2"
    conf.write_text("search example.com\n")
    with pytest.raises(ValueError, match="names no nameserver"):
        parse_resolver("auto", conf)


def test_cli_bad_config_exits_2_naming_the_variable_and_writes_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console.render", "--prefix", str(tmp_path / "p")],
        cwd=ROOT,
        env={"PORT": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ") and "PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "p").exists()


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console.render", "-h"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and "--prefix" in result.stdout and "Exit codes" in result.stdout


@needs_nginx
@pytest.mark.parametrize(
    "extra_env",
    [
        {},
        {"CONSOLE_MAX_BODY_SIZE": "100MiB"},
        {"CONSOLE_ALLOWED_HOSTS": "console.example.com,localhost"},
        {"CONSOLE_RESOLVER": "127.0.0.53"},
        {"CONSOLE_UPSTREAM_HOST": "localhost", "PORT": "10000"},
    ],
    ids=["defaults", "body-cap", "allowed-hosts", "resolver", "hostname-upstream"],
)
def test_nginx_accepts_the_rendered_config(tmp_path: Path, extra_env: dict[str, str]) -> None:
    prefix = tmp_path / "nginx"
    render = subprocess.run(
        render_command(prefix),
        cwd=ROOT,
        env={**LOOPBACK, **extra_env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert render.returncode == 0, render.stderr
    check = subprocess.run(nginx_command(prefix, "-t"), capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


@needs_nginx
def test_nginx_rejects_a_broken_render(tmp_path: Path) -> None:
    # Guards the test above: `nginx -t` really reads our file and can fail.
    prefix = tmp_path / "nginx"
    write_config(
        prefix, rendered(LOOPBACK).replace("proxy_buffering off;", "proxy_buffering maybe;")
    )
    check = subprocess.run(nginx_command(prefix, "-t"), capture_output=True, text=True, timeout=30)
    assert check.returncode != 0
    assert "proxy_buffering" in check.stderr
