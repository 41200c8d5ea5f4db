"""The HTTP client: uploads straight to storage, re-signs expired part URLs, clear errors."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from common.errors import ExitCode, StackError
from harness.minio_server import free_port
from signer.client import (
    ApiError,
    SignerClient,
    TransferError,
    _read_part,
    _upload_parts,
    download_file,
    upload_file,
)
from signer.core.sigv4 import presign_url
from signer.settings import ClientSettings, Settings
from tests.signer.conftest import API_TOKEN, RunningSigner

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def client(signer: RunningSigner) -> SignerClient:
    return SignerClient(ClientSettings(signer.url, API_TOKEN))


def test_upload_and_download_a_small_file(client: SignerClient, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"line\n" * 100)
    result = upload_file(client, source)
    assert result["strategy"] == "single" and result["size_bytes"] == 500
    assert result["content_type"] == "text/plain"
    target = tmp_path / "copy.txt"
    written = download_file(client, result["object_key"], target)
    assert written["size_bytes"] == 500 and target.read_bytes() == source.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy")] == []


def test_an_expired_part_url_is_signed_again(
    client: SignerClient, settings: Settings, tmp_path: Path, monkeypatch
) -> None:
    source = tmp_path / "two-parts.bin"
    source.write_bytes(os.urandom(5 * MiB + 10))
    intent = client.presign(
        content_type="application/octet-stream", size_bytes=source.stat().st_size, multipart="force"
    )
    first = intent["upload"]["parts"][0]
    # Replace part 1's URL by the same request signed two hours ago: storage refuses it.
    query = parse_qs(urlsplit(first["url"]).query)
    first["url"] = presign_url(
        method="PUT",
        endpoint=settings.public_endpoint,
        bucket=settings.bucket,
        key=intent["object_key"],
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        region=settings.region,
        expires=900,
        now=datetime.now(UTC) - timedelta(hours=2),
        headers=first["headers"],
        query={"partNumber": "1", "uploadId": query["uploadId"][0]},
    )
    asked: list[list[int]] = []
    real_parts = client.parts

    def counting(token: str, numbers: list[int]):
        asked.append(numbers)
        return real_parts(token, numbers)

    monkeypatch.setattr(client, "parts", counting)

    class Bar:
        n = 0

        def update(self, count: int) -> None:
            self.n += count

    bar = Bar()
    parts = _upload_parts(client, source, intent, bar, concurrency=2)  # type: ignore[arg-type]
    assert asked == [[1]]  # only the refused part was signed again
    assert bar.n == source.stat().st_size  # the refused attempt was taken back
    done = client.complete(intent["intent_token"], parts)
    assert done["size_bytes"] == source.stat().st_size


def test_a_part_is_read_whole_and_a_file_that_shrank_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "parts.bin"
    data = os.urandom(3000)
    source.write_bytes(data)
    assert _read_part(source, 1000, 1000) == data[1000:2000]
    assert _read_part(source, 2000, 1000) == data[2000:]
    with pytest.raises(TransferError, match="shorter than it was"):
        _read_part(source, 2500, 1000)  # the file lost bytes since the upload was planned


def test_signer_errors_keep_their_code_and_exit_code(signer: RunningSigner, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("x")
    bad = SignerClient(ClientSettings(signer.url, "not-a-valid-token-at-all"))
    with pytest.raises(ApiError) as caught:
        upload_file(bad, source)
    assert caught.value.code == "unauthorized" and caught.value.status == 401
    assert caught.value.exit_code is ExitCode.CONFIG
    assert "SIGNER_API_TOKENS" in caught.value.one_line()

    good = SignerClient(ClientSettings(signer.url, API_TOKEN))
    with pytest.raises(ApiError) as caught:
        download_file(good, "uploads/2000/01/none.txt", tmp_path / "none.txt")
    assert caught.value.code == "not_found" and caught.value.exit_code is ExitCode.FAILED
    assert not (tmp_path / "none.txt").exists()


def test_an_unreachable_signer_is_one_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("x")
    client = SignerClient(ClientSettings(f"http://127.0.0.1:{free_port()}", API_TOKEN))
    with pytest.raises(StackError) as caught:
        upload_file(client, source)
    assert "cannot reach the signer" in caught.value.message


def test_storage_without_kms_is_explained(
    signer_without_kms: RunningSigner, tmp_path: Path
) -> None:
    client = SignerClient(ClientSettings(signer_without_kms.url, API_TOKEN))
    source = tmp_path / "secret.txt"
    source.write_text("classified")
    with pytest.raises(TransferError) as caught:
        upload_file(client, source, profile="sse", multipart="off")
    assert "501 NotImplemented" in caught.value.message and "KMS" in caught.value.hint


def test_a_single_put_is_retried_when_storage_is_busy(client: SignerClient, tmp_path: Path) -> None:
    """A real forwarding proxy answers the first PUT with 503 SlowDown, as a busy or degraded
    MinIO does, and passes the retry through to the real MinIO unchanged."""
    import http.server
    import threading

    import requests

    from signer.client import _bar, _upload_single

    source = tmp_path / "busy.txt"
    source.write_bytes(b"retry me\n" * 100)
    intent = client.presign(content_type="text/plain", size_bytes=900, multipart="off")
    storage = urlsplit(intent["upload"]["url"])
    sizes: list[int] = []

    class Flaky(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            sizes.append(len(body))
            if len(sizes) == 1:
                answer_status, payload = 503, b"<Error><Code>SlowDown</Code></Error>"
            else:
                # Same path, query and headers: the signature (for storage's host) still holds.
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.put(
                    f"{storage.scheme}://{storage.netloc}{self.path}",
                    data=body,
                    headers=headers,
                    timeout=30,
                )
                answer_status, payload = answer.status_code, answer.content
            self.send_response(answer_status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        intent["upload"]["url"] = (
            f"http://127.0.0.1:{proxy.server_port}{storage.path}?{storage.query}"
        )
        with _bar(900, source.name, False) as bar:
            _upload_single(client, source, intent, bar)
    finally:
        proxy.shutdown()
    assert sizes == [900, 900]
    result = client.complete(intent["intent_token"])
    assert result["size_bytes"] == 900 and result["object_key"] == intent["object_key"]


def test_a_long_upload_renews_its_intent_token(settings: Settings, tmp_path: Path) -> None:
    """Intent tokens live 15 minutes; an upload that needs part URLs later renews its token
    (POST /v1/uploads/refresh) and goes on, and complete takes the first token still."""
    from signer.app import create_app
    from signer.client import _PartUrls

    now = [datetime.now(UTC)]
    running = RunningSigner(create_app(settings, clock=lambda: now[0], initial_parts=1)).start()
    try:
        client = SignerClient(ClientSettings(running.url, API_TOKEN))
        intent = client.presign(
            content_type="application/octet-stream", size_bytes=5 * MiB + 10, multipart="force"
        )
        urls = _PartUrls(client, intent["intent_token"], intent["upload"]["part_count"])
        now[0] += timedelta(seconds=901)
        with pytest.raises(ApiError) as caught:
            client.parts(intent["intent_token"], [2])
        assert caught.value.code == "signature_invalid"
        part = urls.get(2)  # refused, renewed, signed
        assert part["part_number"] == 2
        assert urls.intent_token != intent["intent_token"]
        assert client.abort(intent["intent_token"])["aborted"] is True
    finally:
        running.stop()
