"""Signer fixtures: a bucket and the signer's bucket-scoped identity on the session MinIO, the
settings built from a real environment mapping, and one real uvicorn server for the session.

The identity holds exactly the policy bootstrap grants the signer (bootstrap.identity); tests
that need to misbehave (plant an oversized object, read behind the signer's back) use root.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from minio.credentials import StaticProvider

from bootstrap.identity import policy_document
from harness.minio_server import MinioServer, free_port
from minio import Minio, MinioAdmin
from signer.app import create_app
from signer.settings import Settings, load

API_TOKEN = "test-token-" + secrets.token_hex(12)
OTHER_API_TOKEN = "rotated-token-" + secrets.token_hex(12)
TOKEN_SECRET = secrets.token_hex(32)
SESSION_INITIAL_PARTS = 8

POLICY_YAML = """
default_profile: default
profiles:
  default:
    mime_types: {text/plain: txt, image/png: png, application/octet-stream: bin}
    size_max: 100MiB
    multipart_threshold: 16MiB
    part_size: 5MiB
    put_ttl: 15m
    get_ttl: 1h
    ttl_max: 2h
  listing:
    mime_types: {video/quicktime: mov, image/jpeg: jpg}
    size_max: 200MiB
    key_template: "listings/{shard}/{key_base}.{ext}"
    prefix: listings
  small:
    mime_types: {text/plain: txt}
    size_max: 1KiB
    prefix: small
  sse:
    mime_types: {text/plain: txt}
    size_max: 1MiB
    multipart_threshold: 1
    prefix: sse
    required_headers: {x-amz-server-side-encryption: AES256}
"""


@dataclass(frozen=True)
class Identity:
    minio: MinioServer
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)  # never in a failing test's output

    @property
    def root(self) -> Minio:
        return self.minio.client()


def make_identity(minio: MinioServer, bucket: str) -> Identity:
    minio.client().make_bucket(bucket)
    access_key = "signer-" + secrets.token_hex(4)
    secret_key = secrets.token_urlsafe(24)
    # MinioServer.admin() predates minio-py 7.2.20's keyword-only MinioAdmin(...).
    admin = MinioAdmin(
        endpoint=minio.host,
        credentials=StaticProvider(minio.access_key, minio.secret_key),
        secure=False,
    )
    admin.policy_add(f"signer-{bucket}", policy=policy_document(bucket))
    admin.user_add(access_key, secret_key)
    admin.attach_policy([f"signer-{bucket}"], user=access_key)
    return Identity(minio, bucket, access_key, secret_key)


@pytest.fixture(scope="session")
def identity(minio: MinioServer) -> Identity:
    return make_identity(minio, "signer-" + secrets.token_hex(4))


@pytest.fixture(scope="session")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signer-policy") / "policy.yaml"
    path.write_text(POLICY_YAML)
    return path


@pytest.fixture(scope="session")
def no_kms_env(
    tmp_path_factory: pytest.TempPathFactory, policy_file: Path
) -> Iterator[dict[str, str]]:
    """A signer environment on a MinIO without a KMS (test MinIOs have one, as the kit's
    has), where an SSE header gets 501 NotImplemented: what BUCKET_ENCRYPTION=off meets."""
    base = tmp_path_factory.mktemp("minio-no-kms")
    server = MinioServer(data_dir=base / "data", log_path=base / "minio.log", kms_key="")
    server.start()
    yield environment(make_identity(server, "signer-" + secrets.token_hex(4)), policy_file)
    server.stop()


def environment(identity: Identity, policy_file: Path, **extra: str) -> dict[str, str]:
    env = {
        "SIGNER_S3_ENDPOINT": identity.minio.endpoint,
        # URLs are signed for the name clients use, while the signer talks to 127.0.0.1.
        "SIGNER_PUBLIC_ENDPOINT": f"http://localhost:{identity.minio.api_port}",
        "SIGNER_ACCESS_KEY": identity.access_key,
        "SIGNER_SECRET_KEY": identity.secret_key,
        "MINIO_BUCKET": identity.bucket,
        "SIGNER_API_TOKENS": f"{API_TOKEN},{OTHER_API_TOKEN}",
        "SIGNER_TOKEN_SECRETS": TOKEN_SECRET,
        "SIGNER_POLICY_FILE": str(policy_file),
        "SIGNER_LISTEN": "127.0.0.1:8080",  # the test server picks its own free port
        "SIGNER_RATE_LIMIT": "0",
        "SIGNER_STORAGE_TIMEOUT": "5s",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def signer_env(identity: Identity, policy_file: Path) -> dict[str, str]:
    return environment(identity, policy_file)


@pytest.fixture(scope="session")
def settings(signer_env: dict[str, str]) -> Settings:
    return load(signer_env)


class RunningSigner:
    """A real uvicorn server on a free 127.0.0.1 port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningSigner:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the signer did not start within 15s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def signer(settings: Settings) -> Iterator[RunningSigner]:
    running = RunningSigner(create_app(settings, initial_parts=SESSION_INITIAL_PARTS)).start()
    yield running
    running.stop()


class Api:
    """POSTs JSON to the running signer; returns the raw response (tests assert the status)."""

    def __init__(self, base_url: str, token: str | None = API_TOKEN) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        if token is not None:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.http.post(self.base_url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=30, **kwargs)

    def ok(self, path: str, body: Any) -> dict[str, Any]:
        answer = self.post(path, body)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="session")
def api(signer: RunningSigner) -> Api:
    return Api(signer.url)


@pytest.fixture(scope="session")
def signer_without_kms(no_kms_env: dict[str, str]) -> Iterator[RunningSigner]:
    running = RunningSigner(create_app(load(no_kms_env))).start()
    yield running
    running.stop()


def assert_error(answer: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: exactly code and message, plus hint/retry_after_seconds if set."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"code", "message", "hint", "retry_after_seconds"}, body
    if "hint" in body:
        assert isinstance(body["hint"], str) and body["hint"]
    if "retry_after_seconds" in body:
        assert isinstance(body["retry_after_seconds"], int) and body["retry_after_seconds"] >= 1
        assert answer.headers["Retry-After"] == str(body["retry_after_seconds"])
    return body
