"""The baseline the kit replaced: a backend the bytes pass through on their way to storage.

``PUT /<key>`` with a Content-Length: the body is streamed (never held whole) into minio-py's
``put_object(length=...)`` with the given part size and parallel part uploads, exactly what a
"upload via our API" backend does. Standard library HTTP server, one thread per connection.

Run as ``python -m bench.proxy`` with a JSON config on stdin (credentials stay out of argv and
the environment); it prints ``PROXY_READY <port>`` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any, BinaryIO, cast

from minio import Minio

READY_MARK = "PROXY_READY"


class LimitedReader:
    """At most ``length`` bytes of ``stream``: the request body, not the next request."""

    def __init__(self, stream: BinaryIO | BufferedIOBase, length: int) -> None:
        self._stream = stream
        self._left = length
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        self.received += len(data)
        return data


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.config = config
        self.minio = Minio(
            config["endpoint"].split("://", 1)[1],
            access_key=config["access_key"],
            secret_key=config["secret_key"],
            secure=False,
            region=config.get("region", "us-east-1"),
        )


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isdigit():
            self._answer(411, {"message": "Content-Length is required"})
            return
        length = int(length_text)
        config = self.server.config
        body = LimitedReader(self.rfile, length)
        try:
            result = self.server.minio.put_object(
                config["bucket"],
                self.path.lstrip("/"),
                cast(BinaryIO, body),  # minio-py reads it only through read(n)
                length,
                content_type=self.headers.get("Content-Type", "application/octet-stream"),
                part_size=config["part_size"],
                num_parallel_uploads=config["parallel"],
            )
        except Exception as exc:  # noqa: BLE001 - the client gets the reason, the bench fails
            self._answer(502, {"message": f"{type(exc).__name__}: {exc}"})
            return
        self._answer(200, {"etag": result.etag, "received": body.received})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        return  # quiet: the benchmark reads only the answers


def main() -> None:
    server = ProxyServer(json.loads(sys.stdin.readline()))
    print(f"{READY_MARK} {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
