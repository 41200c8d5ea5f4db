"""One truth for names, ports and health paths: the settings code, .env.example,
docker-compose.yaml, render.yaml, the Dockerfiles and the README's env table agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values

from bootstrap import entrypoint, health
from console import render
from harness.minio_server import MINIO_BINARY, ROOT
from signer import settings as signer_settings
from stack import plan as stack_plan
from stack import settings as stack_settings

# Each settings module, and the README's name for its reader.
SETTINGS_MODULES = {
    "bootstrap/settings.py": "bootstrap",
    "signer/settings.py": "signer",
    "console/render.py": "console proxy",
    "stack/settings.py": "make up",
}
# Read by MinIO itself, not by our code.
MINIO_OWN = {"MINIO_SERVER_URL", "MINIO_BROWSER_REDIRECT_URL"}
_NAME = re.compile(r"^(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PORT)$")


def names_read_by(module: str) -> set[str]:
    """Every environment-variable-like string literal in a settings module."""
    tree = ast.parse((ROOT / module).read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _NAME.match(node.value)
    }


def readers() -> dict[str, set[str]]:
    """name → the README labels of the modules reading it (``*_FILE`` variants folded in)."""
    out: dict[str, set[str]] = {}
    for module, label in SETTINGS_MODULES.items():
        for name in names_read_by(module):
            out.setdefault(name, set()).add(label)
    for name in [n for n in out if n.endswith("_FILE") and n.removesuffix("_FILE") in out]:
        out[name.removesuffix("_FILE")] |= out.pop(name)
    return out


def base_name(name: str, known: set[str]) -> str:
    """NAME_FILE is NAME given as a file (envconfig.Env.raw)."""
    return name.removesuffix("_FILE") if name.removesuffix("_FILE") in known else name


def readme_table() -> dict[str, dict[str, str]]:
    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- env-table:start -->"), text.index("<!-- env-table:end -->")
    rows = {}
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([A-Z0-9_]+)`", cells[0]) if len(cells) == 4 else None
        if match:
            rows[match[1]] = {"default": cells[1], "used_by": cells[2], "meaning": cells[3]}
    return rows


def load_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


def render_env() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        s["name"]: {v["key"]: v for v in s["envVars"]} for s in load_yaml("render.yaml")["services"]
    }


def compose_env() -> dict[str, dict[str, str]]:
    return {
        n: s.get("environment", {}) for n, s in load_yaml("docker-compose.yaml")["services"].items()
    }


def example() -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}


def deploy_file_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for service, env in render_env().items():
        for key in env:
            names.setdefault(key, set()).add(f"render.yaml:{service}")
    for service, env in compose_env().items():
        for key in env:
            names.setdefault(key, set()).add(f"docker-compose.yaml:{service}")
    for key in example():
        names.setdefault(key, set()).add(".env.example")
    return names


# --- names ----------------------------------------------------------------------------------------


def test_the_scan_finds_what_each_module_documents() -> None:
    # Guards the scan itself: a few names each module is known to read.
    assert {"MINIO_ROOT_USER", "MINIO_BUCKET", "BOOTSTRAP_STRICT"} <= names_read_by(
        "bootstrap/settings.py"
    )
    assert {"SIGNER_S3_ENDPOINT", "SIGNER_LISTEN", "S3_REGION"} <= names_read_by(
        "signer/settings.py"
    )
    assert set(render.ENV_VARS) == names_read_by("console/render.py")
    assert set(stack_settings.VARIABLES) == names_read_by("stack/settings.py")


def test_every_variable_in_a_deploy_file_is_read_by_something() -> None:
    known = set(readers()) | MINIO_OWN
    unread = {
        name: sorted(where)
        for name, where in deploy_file_names().items()
        if base_name(name, known) not in known
    }
    assert unread == {}, "set in a deploy file but read by nothing (a typo?)"


def test_readme_table_lists_every_variable_exactly_once() -> None:
    documented = set(readme_table())
    expected = set(readers()) | MINIO_OWN
    assert sorted(expected - documented) == [], "read by the code but missing from the README"
    assert sorted(documented - expected) == [], "in the README but read by nothing"
    text = (ROOT / "README.md").read_text()
    table = text[text.index("<!-- env-table:start -->") : text.index("<!-- env-table:end -->")]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(set(rows))


def test_readme_says_truthfully_who_reads_each_variable() -> None:
    read = readers()
    for name, row in readme_table().items():
        claimed = {label for label in SETTINGS_MODULES.values() if label in row["used_by"]}
        assert claimed <= read.get(name, set()), f"{name}: README says {row['used_by']!r}"
        if name in MINIO_OWN:
            assert "MinIO" in row["used_by"]


def test_minio_reads_the_variables_we_set_for_it() -> None:
    if not MINIO_BINARY.exists():
        pytest.skip(f"{MINIO_BINARY} missing: run make minio")
    binary = MINIO_BINARY.read_bytes()
    for name in MINIO_OWN:
        assert name.encode() in binary, f"MinIO does not know {name}"


def test_env_example_names_are_documented_and_secrets_are_placeholders() -> None:
    documented = set(readme_table())
    assert set(example()) <= documented
    for name, value in example().items():
        if readme_table()[name]["default"] == "generated":
            assert value == "", f"{name} must stay empty in .env.example (make up generates it)"


def test_secrets_generated_everywhere_are_the_same_set() -> None:
    from stack.envfile import GENERATED

    readme = {n for n, row in readme_table().items() if row["default"] == "generated"}
    on_render = {
        k for env in render_env().values() for k, v in env.items() if v.get("generateValue")
    }
    assert readme == set(GENERATED) == on_render


# --- ports ----------------------------------------------------------------------------------------


def _port_of(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def test_api_port_agrees() -> None:
    port = stack_settings.DEFAULT_PORTS["STACK_API_PORT"]
    assert render_env()["minio-server"]["PORT"]["value"] == port
    assert example()["STACK_API_PORT"] == str(port)
    assert f"${{STACK_API_PORT:-{port}}}" in (ROOT / "docker-compose.yaml").read_text()
    dockerfile = (ROOT / "minio/Dockerfile").read_text()
    assert f"EXPOSE {port} " in dockerfile
    # The HEALTHCHECK follows the address the entrypoint recorded; MinIO's default otherwise.
    assert f"http://127.0.0.1:{port}" == health.DEFAULT_LIVE_ENDPOINT
    assert f":{port}" == entrypoint.DEFAULT_ADDRESS
    assert readme_table()["STACK_API_PORT"]["default"] == f"`{port}`"


def test_minio_console_port_agrees() -> None:
    port = render.DEFAULT_UPSTREAM_PORT
    assert stack_settings.DEFAULT_PORTS["STACK_MINIO_CONSOLE_PORT"] == port
    assert f'"--console-address", ":{port}"' in (ROOT / "minio/Dockerfile").read_text()
    assert render_env()["minio-console"]["CONSOLE_UPSTREAM_PORT"]["value"] == port
    assert compose_env()["console"]["CONSOLE_UPSTREAM_PORT"] == str(port)
    command = load_yaml("docker-compose.yaml")["services"]["minio"]["command"]
    assert command[command.index("--console-address") + 1] == f":{port}"
    assert readme_table()["CONSOLE_UPSTREAM_PORT"]["default"] == f"`{port}`"


def test_console_proxy_port_agrees() -> None:
    port = render.DEFAULT_PORT
    assert stack_settings.DEFAULT_PORTS["STACK_CONSOLE_PORT"] == port
    assert example()["STACK_CONSOLE_PORT"] == str(port)
    assert compose_env()["console"]["PORT"] == str(port)
    console = load_yaml("docker-compose.yaml")["services"]["console"]
    assert console["ports"] == [f"127.0.0.1:${{STACK_CONSOLE_PORT:-{port}}}:{port}"]
    dockerfile = (ROOT / "console/Dockerfile").read_text()
    assert f"PORT={port}" in dockerfile and f"EXPOSE {port}" in dockerfile
    assert readme_table()["PORT"]["default"] == f"`{port}`"


def test_signer_port_agrees() -> None:
    port = _port_of(signer_settings.DEFAULT_LISTEN)
    assert stack_settings.DEFAULT_PORTS["STACK_SIGNER_PORT"] == port
    assert example()["STACK_SIGNER_PORT"] == str(port)
    assert render_env()["signer"]["PORT"]["value"] == port  # the signer listens on $PORT
    assert _port_of(compose_env()["signer"]["SIGNER_LISTEN"]) == port
    signer = load_yaml("docker-compose.yaml")["services"]["signer"]
    assert signer["ports"] == [f"127.0.0.1:${{STACK_SIGNER_PORT:-{port}}}:{port}"]
    dockerfile = (ROOT / "signer/Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile and f"os.environ.get('PORT', '{port}')" in dockerfile
    assert readme_table()["SIGNER_LISTEN"]["default"] == f"`{signer_settings.DEFAULT_LISTEN}`"


def test_stack_defaults_in_readme_and_example_agree() -> None:
    for name, port in stack_settings.DEFAULT_PORTS.items():
        assert readme_table()[name]["default"] == f"`{port}`"
        if name in example():
            assert example()[name] == str(port)


# --- health paths ---------------------------------------------------------------------------------


def _compose_health(service: str) -> str:
    return " ".join(load_yaml("docker-compose.yaml")["services"][service]["healthcheck"]["test"])


def test_minio_health_path_agrees() -> None:
    path = health.LIVE_PATH
    assert path == stack_plan.MINIO_HEALTH_PATH
    assert load_yaml("render.yaml")["services"][0]["healthCheckPath"] == path
    # The image's HEALTHCHECK is bootstrap.health's own check of LIVE_PATH.
    assert '"python", "-m", "bootstrap.health"' in (ROOT / "minio/Dockerfile").read_text()
    assert path in _compose_health("minio")


def test_console_health_path_agrees() -> None:
    path = render.HEALTH_PATH
    services = {s["name"]: s for s in load_yaml("render.yaml")["services"]}
    assert services["minio-console"]["healthCheckPath"] == path
    assert f"location = {path}" in (ROOT / "console/nginx.conf.j2").read_text()
    assert path in (ROOT / "console/Dockerfile").read_text()
    assert path in _compose_health("console")


def test_signer_health_paths_exist_in_the_app() -> None:
    app = (ROOT / "signer/app.py").read_text()
    for path in (stack_plan.SIGNER_HEALTH_PATH, "/healthz"):
        assert f'Route("{path}"' in app
    assert stack_plan.SIGNER_HEALTH_PATH in _compose_health("signer")
    assert "/healthz" in (ROOT / "signer/Dockerfile").read_text()


def test_readme_local_section_shows_the_default_urls() -> None:
    text = (ROOT / "README.md").read_text()
    local = text[text.index("<!-- local:start -->") : text.index("<!-- local:end -->")]
    s = stack_settings.load({}, {})
    for url in (s.api_url, s.console_url, s.signer_url):
        assert url in local
    for path in (stack_plan.MINIO_HEALTH_PATH, render.HEALTH_PATH, stack_plan.SIGNER_HEALTH_PATH):
        assert f"`{path}`" in local


def test_paths_in_this_test_exist() -> None:
    for module in SETTINGS_MODULES:
        assert (ROOT / module).is_file()
    assert Path(ROOT / "README.md").is_file()
