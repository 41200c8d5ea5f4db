"""Real nginx, rendered from the template, in front of the real MinIO Console."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from harness.minio_server import MinioServer
from tests.console.nginx_proxy import NGINX, ConsoleProxy

pytestmark = pytest.mark.skipif(
    not NGINX.exists(), reason=f"{NGINX} not installed (apt-get install nginx)"
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def proxy(minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProxy]:
    prefix = tmp_path_factory.mktemp("console-proxy") / "nginx"
    server = ConsoleProxy(prefix=prefix, upstream_port=minio.console_port).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def session(proxy: ConsoleProxy, minio: MinioServer) -> requests.Session:
    """Logged in to the console through the proxy, as the browser would be."""
    s = requests.Session()
    resp = s.post(
        f"{proxy.url}/api/v1/login",
        json={"accessKey": minio.access_key, "secretKey": minio.secret_key},
        timeout=10,
    )
    assert resp.status_code == 204, resp.text
    assert s.cookies.get("token")
    return s


@pytest.fixture(scope="module")
def bucket(minio: MinioServer) -> str:
    name = "proxy-" + secrets.token_hex(4)
    minio.client().make_bucket(name)
    return name


def test_healthz_is_answered_by_nginx_itself(proxy: ConsoleProxy) -> None:
    resp = requests.get(proxy.url + "/healthz", timeout=5)
    assert resp.status_code == 200
    assert resp.text == "ok\n"


def test_console_page_through_the_proxy(proxy: ConsoleProxy) -> None:
    resp = requests.get(proxy.url + "/", timeout=10)
    assert resp.status_code == 200
    assert "<title>MinIO Console</title>" in resp.text
    assert resp.headers["X-Frame-Options"] == "DENY"  # once, whether the console or nginx set it
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_nginx_error_pages_carry_security_headers(tmp_path: Path) -> None:
    # Nothing listens upstream: nginx answers 502 itself, still with its headers.
    from harness.minio_server import free_port

    dead = ConsoleProxy(prefix=tmp_path / "nginx", upstream_port=free_port()).start()
    try:
        resp = requests.get(dead.url + "/", timeout=10)
    finally:
        dead.stop()
    assert resp.status_code == 502
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_websocket_upgrade_reaches_the_object_browser(
    proxy: ConsoleProxy, session: requests.Session, minio: MinioServer, bucket: str
) -> None:
    minio.client().put_object(bucket, "hello.txt", _Body(b"hi", 2), 2)
    ws_url = proxy.url.replace("http://", "ws://") + "/ws/objectManager"
    headers = {"Cookie": f"token={session.cookies['token']}"}
    # The Origin a browser on the proxy's page sends; the console checks it against Host.
    with connect(ws_url, additional_headers=headers, origin=proxy.url, open_timeout=10) as ws:
        assert ws.response.status_code == 101
        ws.send(
            json.dumps({"mode": "objects", "bucket_name": bucket, "prefix": "", "request_id": 1})
        )
        names: list[str] = []
        for _ in range(20):
            message = json.loads(ws.recv(timeout=10))
            names += [obj["name"] for obj in message.get("data") or []]
            if message.get("request_end") or names:
                break
    assert names == ["hello.txt"]


def test_websocket_from_a_foreign_origin_is_refused(
    proxy: ConsoleProxy, session: requests.Session
) -> None:
    # Guards the test above: Host really reaches the console, which compares it with Origin.
    from websockets.exceptions import InvalidStatus

    ws_url = proxy.url.replace("http://", "ws://") + "/ws/objectManager"
    headers = {"Cookie": f"token={session.cookies['token']}"}
    with (
        pytest.raises(InvalidStatus) as info,
        connect(
            ws_url, additional_headers=headers, origin="http://evil.example.com", open_timeout=10
        ),
    ):
        pass
    assert info.value.response.status_code == 403


class _Body:
    """A request body of ``size`` bytes produced on the fly (no 100 MiB in memory or on disk)."""

    def __init__(self, head: bytes, size: int, tail: bytes = b"") -> None:
        self.parts = [head, tail]
        self.remaining = size - len(head) - len(tail)
        self.size = size
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        n = 1024 * 1024 if n is None or n < 0 else n
        if self.parts[0]:
            chunk, self.parts[0] = self.parts[0][:n], self.parts[0][n:]
        elif self.remaining > 0:
            chunk = b"x" * min(n, self.remaining)
            self.remaining -= len(chunk)
        else:
            chunk, self.parts[1] = self.parts[1][:n], self.parts[1][n:]
        self.sent += len(chunk)
        return chunk


def test_a_100_mib_upload_streams_through(
    proxy: ConsoleProxy, session: requests.Session, minio: MinioServer, bucket: str
) -> None:
    payload = 100 * MIB
    boundary = "minio-stack-" + secrets.token_hex(8)
    # The console's uploader: one multipart part whose field name is the object's size.
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{payload}"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = _Body(head, len(head) + payload + len(tail), tail)
    resp = session.post(
        f"{proxy.url}/api/v1/buckets/{bucket}/objects/upload",
        params={"prefix": "big.bin"},
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=300,
    )
    assert resp.status_code != 413, "nginx refused the body (client_max_body_size)"
    assert resp.status_code == 200, resp.text
    assert body.sent == len(body)
    # The whole body arrived: MinIO holds every byte of it.
    assert minio.client().stat_object(bucket, "big.bin").size == payload
