"""rotate-root --target render: a contract test against a local Render API stand-in.

Render itself cannot be reached from tests, so tests/rotation/fake_render.py serves the three
calls rotation makes on 127.0.0.1, exactly as Render documents them (paths, bodies, the
Bearer header, deploy statuses). Its deploys restart a real MinIO with the service's
variables, so whether the new credentials work is MinIO's own answer.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import settings as bootstrap_settings
from bootstrap.converge import run as converge
from bootstrap.settings import Credentials
from harness.minio_server import MINIO_BINARY, MinioServer
from rotation.checks import Server
from tests.native_stack import CLI
from tests.rotation.fake_render import FakeRender
from tests.rotation.stack import refusal, secrets_absent

pytestmark = pytest.mark.skipif(not MINIO_BINARY.exists(), reason="run make minio first")

API_KEY = "rnd_test_key_0123456789"
SERVICE = "srv-rotationtest"
SIGNER = Credentials("render-signer", "render-signer-secret-0123")


@pytest.fixture
def render(
    minio_factory, tmp_path: Path
) -> Iterator[tuple[FakeRender, MinioServer, dict[str, str]]]:
    server: MinioServer = minio_factory()
    config = {
        "MINIO_ENDPOINT": server.endpoint,
        "MINIO_ROOT_USER": server.access_key,
        "MINIO_ROOT_PASSWORD": server.secret_key,
        "MINIO_BUCKET": "uploads",
        "SIGNER_ACCESS_KEY": SIGNER.access_key,
        "SIGNER_SECRET_KEY": SIGNER.secret_key,
    }
    assert converge(bootstrap_settings.load(config)).exit_code == 0  # as minio-server's entrypoint

    def redeploy(env: dict[str, str]) -> None:
        server.access_key = env["MINIO_ROOT_USER"]
        server.secret_key = env["MINIO_ROOT_PASSWORD"]
        server.restart()

    fake = FakeRender(
        API_KEY,
        SERVICE,
        redeploy,
        env={"MINIO_ROOT_USER": server.access_key, "MINIO_ROOT_PASSWORD": server.secret_key},
    ).start()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STACK_", "MINIO_", "SIGNER_", "RENDER_"))
    }
    env.update(
        config,
        RENDER_API_URL=fake.base_url,
        RENDER_API_KEY=API_KEY,
        RENDER_SERVICE_ID=SERVICE,
        RENDER_DEPLOY_POLL="100ms",
        STACK_ENV_FILE=str(tmp_path / ".env"),  # where the journal goes; no .env on Render
    )
    yield fake, server, env
    fake.stop()


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "rotate-root", "--target", "render", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_rotation_uses_the_documented_render_calls(render) -> None:
    fake, server, env = render
    old = Credentials(server.access_key, server.secret_key)
    endpoint = Server(server.endpoint, "us-east-1")

    result = _run(env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["failed_step"] is None
    new_password = fake.env["MINIO_ROOT_PASSWORD"]
    assert new_password != old.secret_key and len(new_password) == 40
    calls = fake.calls
    assert all(c.authorization == f"Bearer {API_KEY}" for c in calls)
    assert (calls[0].method, calls[0].path, calls[0].body) == (
        "PUT",
        f"/v1/services/{SERVICE}/env-vars/MINIO_ROOT_PASSWORD",
        {"value": new_password},
    )
    assert (calls[1].method, calls[1].path, calls[1].body) == (
        "POST",
        f"/v1/services/{SERVICE}/deploys",
        {"clearCache": "do_not_clear"},
    )
    (deploy_id,) = fake.deploys
    polls = calls[2:]
    assert polls and all(
        (c.method, c.path) == ("GET", f"/v1/services/{SERVICE}/deploys/{deploy_id}") for c in polls
    )
    assert fake.deploys[deploy_id] == "live"
    assert refusal(endpoint, Credentials(old.access_key, new_password)) is None
    assert refusal(endpoint, old) == "SignatureDoesNotMatch"
    assert refusal(endpoint, SIGNER) is None
    assert {s["step"]: s["status"] for s in report["steps"]}["verify-signer"] == "ok"
    assert secrets_absent(result.stdout + result.stderr, new_password, old.secret_key, API_KEY)
    assert not Path(env["STACK_ENV_FILE"] + ".rotate-root.json").exists()


def test_a_failed_deploy_puts_the_old_value_back(render) -> None:
    fake, server, env = render
    old = Credentials(server.access_key, server.secret_key)
    fake.fail_deploys = 1

    result = _run(env)

    assert result.returncode == 1
    assert "at step restart" in result.stderr and "update_failed" in result.stderr
    assert "rolled back" in result.stderr
    report = json.loads(result.stdout)
    assert report["rolled_back"] is True
    statuses = {s["step"]: s["status"] for s in report["steps"]}
    # The failed deploy left the old instance serving: no second deploy was needed.
    assert statuses["rollback-restart"] == "skipped"
    assert fake.env["MINIO_ROOT_PASSWORD"] == old.secret_key
    puts = [c for c in fake.calls if c.method == "PUT"]
    assert [p.body["value"] == old.secret_key for p in puts] == [False, True]
    assert refusal(Server(server.endpoint, "us-east-1"), old) is None
