"""SIGNER_PUBLIC_ENDPOINT proved against SIGNER_S3_ENDPOINT with real MinIO servers: a nonce
written through the private endpoint and read back through the public one. The signer is not
ready until that works, and says which variable is wrong when it does not."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from minio.credentials import StaticProvider
from starlette.testclient import TestClient

from harness.minio_server import MinioServer, free_port
from minio import MinioAdmin
from signer.app import create_app
from signer.core.errors import ErrorCode, SignerError
from signer.endpoints import PROBE_PREFIX, PublicEndpointCheck, needs_proof
from signer.settings import load
from signer.storage import Access
from tests.signer.conftest import Identity, environment


def access(identity: Identity, endpoint: str, *, timeout: float) -> Access:
    return Access(
        endpoint=endpoint,
        bucket=identity.bucket,
        access_key=identity.access_key,
        secret_key=identity.secret_key,
        timeout=timeout,
    )


def check(identity: Identity, public: str) -> PublicEndpointCheck:
    return PublicEndpointCheck(access(identity, identity.minio.endpoint, timeout=5), public=public)


def refused(check: PublicEndpointCheck) -> SignerError:
    with pytest.raises(SignerError) as caught:
        check.verify()
    assert caught.value.code is ErrorCode.STORAGE_DENIED
    assert not check.proved
    return caught.value


def probes_left(identity: Identity) -> list[str]:
    objects = identity.root.list_objects(identity.bucket, prefix=PROBE_PREFIX, recursive=True)
    return [o.object_name or "" for o in objects]


@dataclass
class Impostor:
    """An HTTP server that answers every GET 200 with a page of its own, as a console (or
    someone else's web service) behind a mistyped public URL would; it counts the GETs."""

    url: str
    gets: list[str] = field(default_factory=list)


@pytest.fixture
def impostor() -> Iterator[Impostor]:
    seen: list[str] = []

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            seen.append(self.path)
            body = b"<!doctype html><title>MinIO Console</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Impostor(f"http://127.0.0.1:{server.server_port}", seen)
    server.shutdown()
    server.server_close()


def test_the_same_minio_under_another_name_is_proved(identity: Identity) -> None:
    # The signer calls 127.0.0.1; clients use localhost: two URLs, one MinIO.
    probe = check(identity, f"http://localhost:{identity.minio.api_port}")
    probe.verify()
    assert probe.proved
    probe.verify()  # proved once for the life of the process
    assert probes_left(identity) == []


def test_another_minio_behind_the_public_url_is_named(identity: Identity, minio_factory) -> None:
    elsewhere: MinioServer = minio_factory()  # someone else's service under that name
    error = refused(check(identity, elsewhere.endpoint))
    assert error.message.startswith(f"SIGNER_PUBLIC_ENDPOINT {elsewhere.endpoint} does not reach")
    assert f"SIGNER_S3_ENDPOINT {identity.minio.endpoint}" in error.message
    assert "HTTP 403 InvalidAccessKeyId" in error.message
    assert error.hint and "minio-server's public URL" in error.hint
    assert identity.secret_key not in str(error) and "X-Amz-Signature" not in str(error)
    assert probes_left(identity) == []  # the probe was removed even so


def test_a_minio_that_knows_the_keys_but_not_the_object_is_refused(
    identity: Identity, minio_factory
) -> None:
    # The same bucket and the same signer keys on a second server: only the nonce tells them
    # apart, so a public URL that authenticates is still not taken on trust.
    twin: MinioServer = minio_factory()
    twin.client().make_bucket(identity.bucket)
    admin = MinioAdmin(
        endpoint=twin.host,
        credentials=StaticProvider(twin.access_key, twin.secret_key),
        secure=False,
    )
    admin.user_add(identity.access_key, identity.secret_key)
    admin.attach_policy(["readwrite"], user=identity.access_key)
    error = refused(check(identity, twin.endpoint))
    assert "(HTTP 404 NoSuchKey)" in error.message


def test_a_page_instead_of_storage_is_refused_and_held_briefly(
    identity: Identity, impostor: Impostor
) -> None:
    probe = check(identity, impostor.url)
    first = refused(probe)
    assert "(HTTP 200 with other content)" in first.message
    assert error_names_public(first, impostor.url)
    # Asked again at once (a health probe): the same answer, without another probe object.
    assert refused(probe) is first
    assert len(impostor.gets) == 1
    assert impostor.gets[0].startswith(f"/{identity.bucket}/{PROBE_PREFIX}")


def error_names_public(error: SignerError, url: str) -> bool:
    return error.message.startswith(f"SIGNER_PUBLIC_ENDPOINT {url} ")


def test_a_public_url_nobody_answers_is_named_with_a_retry(identity: Identity) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    error = refused(check(identity, dead))
    assert error.message == (
        f"SIGNER_PUBLIC_ENDPOINT {dead} did not answer (ConnectionError), so URLs signed "
        "for it would not work"
    )
    assert error.retry_after_seconds and error.retry_after_seconds >= 1


def test_a_private_endpoint_that_refuses_is_named(identity: Identity) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    probe = PublicEndpointCheck(access(identity, dead, timeout=2), public=identity.minio.endpoint)
    assert f"SIGNER_S3_ENDPOINT {dead} did not answer" in refused(probe).message


@pytest.mark.parametrize(
    ("private", "public", "expected"),
    [
        ("http://minio:9000", "http://minio:9000", False),  # one URL: nothing to prove
        # Compose: the client's own machine, which the signer's container cannot reach.
        ("http://minio:9000", "http://localhost:9000", False),
        ("http://minio:9000", "http://127.0.0.1:9000", False),
        ("http://minio-server-a1b2:9000", "https://minio-server-a1b2.onrender.com", True),
        ("http://minio-server-a1b2:9000", "https://files.example.com", True),
        ("http://127.0.0.1:9000", "http://localhost:9000", True),  # native: both reachable
    ],
)
def test_what_needs_a_proof(private: str, public: str, expected: bool) -> None:
    assert needs_proof(private, public) is expected


def test_nothing_is_sent_when_nothing_can_be_proved(identity: Identity) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    probe = PublicEndpointCheck(access(identity, dead, timeout=1), public=dead)
    probe.verify()  # would raise had it called the dead endpoint
    assert probe.proved


def test_readyz_is_503_until_the_public_endpoint_reaches_the_same_storage(
    identity: Identity, policy_file, impostor: Impostor
) -> None:
    wrong = load(environment(identity, policy_file, SIGNER_PUBLIC_ENDPOINT=impostor.url))
    with TestClient(create_app(wrong)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["code"] == "storage_denied"
    assert body["message"].startswith(f"SIGNER_PUBLIC_ENDPOINT {impostor.url} does not reach")
    assert body["retry_after_seconds"] >= 1

    right = load(environment(identity, policy_file))  # public http://localhost:<port>
    with TestClient(create_app(right)) as client:
        assert client.get("/readyz").json() == {"status": "ready", "bucket": identity.bucket}


def test_the_signer_starts_proving_at_once_and_logs_what_is_wrong(
    identity: Identity, impostor: Impostor, caplog: pytest.LogCaptureFixture
) -> None:
    # Render checks a private service by TCP only: nobody calls /readyz there, so the proof
    # starts with the process and its failure goes to the log.
    wrong = check(identity, impostor.url)
    with caplog.at_level(logging.WARNING, logger="signer"):
        stop = wrong.watch()
        try:
            deadline = time.monotonic() + 10
            while "not ready" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop()
    assert f"not ready: SIGNER_PUBLIC_ENDPOINT {impostor.url} does not reach" in caplog.text
    assert "X-Amz-Signature" not in caplog.text and identity.secret_key not in caplog.text

    right = check(identity, f"http://localhost:{identity.minio.api_port}")
    stop = right.watch()
    deadline = time.monotonic() + 10
    while not right.proved and time.monotonic() < deadline:
        time.sleep(0.05)
    stop()
    assert right.proved
