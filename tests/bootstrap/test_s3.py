"""s3: server detection, temporary vs permanent errors, and bounded retries."""

from __future__ import annotations

import http.server
import threading

import pytest
import urllib3
from minio.error import MinioAdminException, S3Error

from bootstrap.s3 import GENERIC, MINIO, detect, explain, is_temporary, retry_temporary
from common.errors import PermanentError, TemporaryError, WaitTimeout
from harness.minio_server import free_port


def s3_error(code: str) -> S3Error:
    return S3Error(None, code, "message", "/r", "req", "host")


@pytest.mark.parametrize(
    ("exc", "temporary"),
    [
        (s3_error("XMinioServerNotInitialized"), True),
        (s3_error("SlowDown"), True),
        (MinioAdminException("503", '{"Code":"XMinioServerNotInitialized"}'), True),
        (urllib3.exceptions.NewConnectionError(None, "refused"), True),
        (TemporaryError("starting"), True),
        (s3_error("AccessDenied"), False),
        (s3_error("NoSuchBucket"), False),
        (MinioAdminException("403", '{"Code":"AccessDenied"}'), False),
        (ValueError("bad"), False),
    ],
)
def test_is_temporary(exc, temporary):
    assert is_temporary(exc) is temporary


def test_explain_names_the_variable_to_fix():
    err = explain(s3_error("SignatureDoesNotMatch"))
    assert isinstance(err, PermanentError)
    assert "MINIO_ROOT_PASSWORD" in err.hint
    assert (
        "MINIO_ROOT_USER"
        in explain(MinioAdminException("403", '{"Code":"InvalidAccessKeyId"}')).hint
    )


def test_retry_only_temporary_errors():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TemporaryError("not yet")
        return "ok"

    assert retry_temporary(flaky, budget=10) == "ok" and len(calls) == 3

    def refused():
        calls.append(2)
        raise PermanentError("no")

    calls.clear()
    with pytest.raises(PermanentError):
        retry_temporary(refused, budget=10)
    assert calls == [2]  # a permanent error is not retried


def test_detect_minio(minio):
    kind, seconds = detect(minio.endpoint, timeout=10)
    assert kind == MINIO and seconds >= 0


def test_detect_other_s3_server():
    class NotMinio(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(403 if self.path == "/" else 404)
            self.send_header("Server", "SeaweedFS")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), NotMinio)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        kind, _ = detect(f"http://127.0.0.1:{httpd.server_port}", timeout=5)
    finally:
        httpd.shutdown()
    assert kind == GENERIC


def test_detect_times_out_naming_the_endpoint_variable():
    with pytest.raises(WaitTimeout) as info:
        detect(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    assert "MINIO_ENDPOINT" in info.value.hint
