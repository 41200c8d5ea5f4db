"""The signer's commands, through the real root group (and once as a real process)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner

from harness.minio_server import free_port
from minio_stack.cli import main
from signer import cli as signer_cli
from tests.signer.conftest import API_TOKEN, Api, RunningSigner

MiB = 1024 * 1024
SCRIPT = Path(sys.executable).parent / "minio-stack"


def command_paths() -> list[list[str]]:
    """Every signer command and group, as the words that reach it from the root."""
    paths: list[list[str]] = []

    def walk(command: click.Command, prefix: list[str]) -> None:
        paths.append(prefix)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*prefix, name])

    for command in signer_cli.COMMANDS:
        assert command.name is not None
        walk(command, [command.name])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(path: list[str], flag: str) -> None:
    result = CliRunner(env={k: "" for k in os.environ if k.startswith(("SIGNER_", "MINIO_"))})
    outcome = result.invoke(main, [*path, flag])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.startswith(f"Usage: minio-stack {' '.join(path)}")
    if path != ["signer"]:
        assert "Exit codes: 0 ok" in outcome.output


def test_help_needs_no_environment() -> None:
    done = subprocess.run(
        [str(SCRIPT), "signer", "serve", "--help"],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "granian" in done.stdout


def _presign_env(signer_env: dict[str, str]) -> dict[str, str]:
    return {**signer_env, "SIGNER_API_TOKENS": ""}


def test_presign_prints_a_working_single_put(signer_env: dict[str, str]) -> None:
    outcome = CliRunner(env=_presign_env(signer_env)).invoke(
        main, ["presign", "--mime", "text/plain", "--size", "5", "--filename", "a.txt"]
    )
    assert outcome.exit_code == 0, outcome.output
    intent = json.loads(outcome.stdout)
    assert intent["strategy"] == "single"
    upload = intent["upload"]
    answer = requests.put(upload["url"], data=b"hello", headers=upload["headers"], timeout=10)
    assert answer.status_code == 200


def test_presign_creates_a_multipart_upload(signer_env: dict[str, str], api: Api) -> None:
    outcome = CliRunner(env=_presign_env(signer_env)).invoke(
        main,
        [
            "presign",
            "--mime",
            "video/quicktime",
            "--size",
            "100MiB",
            "--profile",
            "listing",
            "--key-base",
            "01JCLI0000000000000000000",
            "--ext",
            "mov",
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    intent = json.loads(outcome.stdout)
    assert intent["strategy"] == "multipart"
    assert intent["object_key"].startswith("listings/") and intent["object_key"].endswith(
        "/01JCLI0000000000000000000.mov"
    )
    assert intent["upload"]["part_count"] == 13
    # The running signer shares the token keys: it accepts this intent.
    api.ok("/v1/uploads/abort", {"intent_token": intent["intent_token"]})


def test_presign_takes_the_specs_reference_command(signer_env: dict[str, str], api: Api) -> None:
    """The spec's CLI contract, flag for flag; it prints the PresignResponse JSON."""
    ulid = "01JD5Z8Q4V6W7X8Y9Z0CLISPEC"
    outcome = CliRunner(env=_presign_env(signer_env)).invoke(
        main,
        [
            "presign",
            "--mime",
            "video/quicktime",
            "--size",
            "104857600",
            "--kind",
            "video",
            "--profile",
            "listing",
            "--key-base",
            ulid,
            "--ext",
            "mov",
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    answer = json.loads(outcome.stdout)
    assert {"intent_token", "key_base", "object_key", "expires_at", "strategy", "upload"} <= set(
        answer
    )
    assert answer["key_base"] == ulid and answer["object_key"].endswith(f"/{ulid}.mov")
    assert answer["mime"] == "video/quicktime" and answer["strategy"] == "multipart"
    assert answer["upload"]["part"]["url"] == "/v1/uploads/presign/part"
    api.ok("/v1/uploads/abort", {"intent_token": answer["intent_token"]})


def test_presign_takes_the_kits_other_request_fields(signer_env: dict[str, str]) -> None:
    outcome = CliRunner(env=_presign_env(signer_env)).invoke(
        main,
        [
            "presign",
            "--mime",
            "text/plain",
            "--size",
            "5",
            "--bucket",
            signer_env["MINIO_BUCKET"],
            "--actor",
            "user:42",
            "--endpoint",
            "internal",
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    answer = json.loads(outcome.stdout)
    assert answer["upload"]["url"].startswith(signer_env["SIGNER_S3_ENDPOINT"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--mime", "image/gif", "--size", "5"], "not allowed"),
        (["--mime", "text/plain", "--size", "1GiB", "--profile", "small"], "larger than"),
        (["--mime", "text/plain", "--size", "lots"], "not a size"),
        (["--mime", "text/plain", "--size", "5", "--profile", "nope"], "unknown profile"),
        (["--mime", "image/png", "--size", "5", "--kind", "video"], "not of kind 'video'"),
        (["--mime", "text/plain", "--size", "5", "--bucket", "elsewhere"], "not the bucket"),
        (["--mime", "text/plain", "--size", "5", "--shard", "ab"], "does not use shard"),
        (["--mime", "text/plain", "--size", "5", "--tenant", "acme"], "does not use tenant"),
    ],
)
def test_presign_refusals_exit_2(
    signer_env: dict[str, str], args: list[str], expected: str
) -> None:
    outcome = CliRunner(env=_presign_env(signer_env)).invoke(main, ["presign", *args])
    assert outcome.exit_code == 2
    assert expected in outcome.stderr and outcome.stdout == ""


def test_presign_with_no_settings_names_the_variables() -> None:
    env = {k: "" for k in os.environ if k.startswith(("SIGNER_", "MINIO_"))}
    outcome = CliRunner(env=env).invoke(main, ["presign", "--mime", "text/plain", "--size", "1"])
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("Error: invalid configuration")
    for name in ("SIGNER_S3_ENDPOINT", "SIGNER_ACCESS_KEY", "MINIO_BUCKET", "SIGNER_TOKEN_SECRETS"):
        assert name in outcome.stderr
    assert "SIGNER_API_TOKENS" not in outcome.stderr


def _client_env(signer: RunningSigner) -> dict[str, str]:
    return {"SIGNER_URL": signer.url, "SIGNER_API_TOKEN": API_TOKEN}


@pytest.mark.parametrize(("size", "strategy"), [(1024, "single"), (64 * MiB, "multipart")])
def test_upload_then_download_gives_identical_bytes(
    signer: RunningSigner, tmp_path: Path, size: int, strategy: str
) -> None:
    source = tmp_path / f"payload-{size}.bin"
    source.write_bytes(os.urandom(size))
    runner = CliRunner(env=_client_env(signer))
    uploaded = runner.invoke(main, ["upload", str(source), "--json", "--no-progress"])
    assert uploaded.exit_code == 0, uploaded.output
    result = json.loads(uploaded.stdout)
    assert result["ok"] and result["strategy"] == strategy and result["size_bytes"] == size

    target = tmp_path / "copy.bin"
    downloaded = runner.invoke(main, ["download", result["object_key"], "-o", str(target)])
    assert downloaded.exit_code == 0, downloaded.output
    assert f"({size} bytes)" in downloaded.stderr
    digest = hashlib.sha256
    assert digest(target.read_bytes()).digest() == digest(source.read_bytes()).digest()

    again = runner.invoke(main, ["download", result["object_key"], "-o", str(target)])
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_upload_prints_the_url_and_download_writes_stdout(
    signer: RunningSigner, tmp_path: Path
) -> None:
    source = tmp_path / "hello.txt"
    source.write_text("hello\n")
    runner = CliRunner(env=_client_env(signer))
    uploaded = runner.invoke(main, ["upload", str(source), "--progress"])
    assert uploaded.exit_code == 0, uploaded.output
    url = uploaded.stdout.strip()
    assert requests.get(url, timeout=10).text == "hello\n"
    key = uploaded.stderr.split("→ ", 1)[1].split(" ", 1)[0]
    piped = runner.invoke(main, ["download", key, "-o", "-"])
    assert piped.exit_code == 0 and piped.stdout == "hello\n"


def test_upload_errors_are_one_line(signer: RunningSigner, tmp_path: Path) -> None:
    source = tmp_path / "image.gif"
    source.write_bytes(b"GIF89a")
    outcome = CliRunner(env=_client_env(signer)).invoke(main, ["upload", str(source)])
    assert outcome.exit_code == 2
    assert outcome.stderr.startswith("Error: signer: content type 'image/gif' is not allowed")
    assert outcome.stderr.count("\n") == 1

    outcome = CliRunner(env={"SIGNER_URL": signer.url, "SIGNER_API_TOKEN": ""}).invoke(
        main, ["upload", str(source), "--json"]
    )
    assert outcome.exit_code == 2 and "SIGNER_API_TOKEN" in outcome.stderr
    assert json.loads(outcome.stdout)["ok"] is False

    outcome = CliRunner(env=_client_env(signer)).invoke(
        main, ["download", "uploads/2000/01/missing.txt", "-o", str(tmp_path / "m")]
    )
    assert outcome.exit_code == 1 and "not_found" not in outcome.stderr
    assert outcome.stderr.startswith("Error: signer: no object")


def test_serve_check(signer_env: dict[str, str]) -> None:
    outcome = CliRunner(env=signer_env).invoke(main, ["signer", "serve", "--check"])
    assert outcome.exit_code == 0, outcome.output
    assert "profiles: default, listing, small, sse" in outcome.stderr
    assert "granian + uvloop" in outcome.stderr  # the server and granian[uvloop]'s loop
    assert signer_env["SIGNER_SECRET_KEY"] not in outcome.output
    bad = CliRunner(env={**signer_env, "SIGNER_WORKERS": "many"}).invoke(
        main, ["signer", "serve", "--check"]
    )
    assert bad.exit_code == 2 and "SIGNER_WORKERS" in bad.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_runs_uvicorn(signer_env: dict[str, str], workers: str) -> None:
    """One worker serves the app object; more run the app_from_env factory in processes."""
    port = free_port()
    env = {
        **os.environ,
        **signer_env,
        "SIGNER_LISTEN": f"127.0.0.1:{port}",
        "SIGNER_WORKERS": workers,
    }
    process = subprocess.Popen(
        [str(SCRIPT), "signer", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the signer did not start within 30s"
                time.sleep(0.1)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        # granian names itself, with no version; it has no switch to drop the header
        # (emmett-framework/granian#594).
        assert ready.headers.get("server") == "granian"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=20)[0].decode()
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0].decode()
    # granian stops its workers gracefully (each runs the app's shutdown), then exits 0.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "signer stopped" in output
    assert output.count("signer for bucket") == int(workers)
    assert '"GET /readyz' not in output  # no access log line unless SIGNER_ACCESS_LOG=true
    assert signer_env["SIGNER_SECRET_KEY"] not in output
    assert API_TOKEN not in output
