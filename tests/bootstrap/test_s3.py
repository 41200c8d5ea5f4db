"""s3: server detection, temporary vs permanent errors, whole-operation retries, raw calls."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from datetime import UTC, datetime

import pytest
import requests
import urllib3
from minio.error import MinioAdminException, S3Error

from bootstrap.s3 import (
    GENERIC,
    MINIO,
    PROBE_PREFIX,
    Clients,
    admin_error,
    admin_status,
    detect,
    error_code,
    error_from_answer,
    explain,
    first_object,
    is_temporary,
    make_http,
    put_bytes,
    read_bytes,
    retry_temporary,
)
from bootstrap.settings import Credentials
from common.errors import PermanentError, TemporaryError, WaitTimeout
from harness.minio_server import free_port
from signer.core.sigv4 import presign_url
from tests.bootstrap.conftest import DroppingPool, settings_for


def s3_error(code: str) -> S3Error:
    return S3Error(None, code, "message", "/r", "req", "host")


@pytest.mark.parametrize(
    ("exc", "temporary"),
    [
        (s3_error("XMinioServerNotInitialized"), True),
        (s3_error("SlowDown"), True),
        # MinIO without write or read quorum for the moment (a distributed node that has not
        # reached its peers yet): seen failing a bootstrap verify, before these were listed.
        (s3_error("SlowDownWrite"), True),
        (s3_error("SlowDownRead"), True),
        (s3_error("XMinioIAMNotInitialized"), True),
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


# --- whole operations are retried ------------------------------------------------------------


def offline_clients() -> Clients:
    return Clients(
        endpoint="http://127.0.0.1:9",
        host="127.0.0.1:9",
        secure=False,
        region="us-east-1",
        root=Credentials("root-user", "root-password"),
        http=make_http(),
        budget=10,
    )


def test_retry_starts_a_failed_listing_again():
    runs = []

    def listing():  # fails after its first page, as a connection dropped mid-listing would
        runs.append(1)
        yield "page-1"
        if len(runs) == 1:
            raise TemporaryError("connection dropped")
        yield "page-2"

    assert offline_clients().retry(lambda: list(listing())) == ["page-1", "page-2"]
    assert len(runs) == 2


def _bucket(server, name: str) -> str:
    client = server.client()
    if not client.bucket_exists(name):
        client.make_bucket(name)
    return name


def test_a_listing_whose_request_drops_is_retried(minio):
    # minio-py sends a listing's request only once its generator is iterated: retrying the
    # call that made the generator would not have covered it.
    bucket = _bucket(minio, "s3-listing-retry")
    pool = DroppingPool(lambda method, url: method == "GET" and "list-type=2" in url)
    clients = Clients.connect(settings_for(minio), http=pool)
    clients.retry(put_bytes, clients.s3, bucket, f"{PROBE_PREFIX}listed", b"x")

    found = clients.retry(first_object, clients.s3, bucket, PROBE_PREFIX)
    assert found is not None and found.object_name == f"{PROBE_PREFIX}listed"
    assert len(pool.dropped) == 1
    assert clients.retry(read_bytes, clients.s3, bucket, f"{PROBE_PREFIX}listed") == b"x"


class NotYetGateway:
    """A balancer in front of the real MinIO whose first ``refusals`` requests reach a node
    still initialising: 503 XMinioServerNotInitialized, as MinIO answers then. The rest are
    passed to MinIO as they came."""

    def __init__(self, minio, refusals: int) -> None:
        self.refused = 0
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if gateway.refused < refusals:
                    gateway.refused += 1
                    body = b"<Error><Code>XMinioServerNotInitialized</Code></Error>"
                    self.send_response(503)
                else:
                    answer = requests.get(minio.endpoint + self.path, timeout=10)
                    body = answer.content
                    self.send_response(answer.status_code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_raw_call_answered_503_by_a_node_not_yet_ready_is_retried(minio):
    # Before: bootstrap judged the 503 (privacy verify: "anonymous requests answered GET 503;
    # expected 403", seen through a distributed cluster's balancer) and failed the step.
    bucket = _bucket(minio, "s3-not-yet")
    gateway = NotYetGateway(minio, refusals=2)
    try:
        clients = dataclasses.replace(offline_clients(), endpoint=gateway.endpoint, budget=10)
        assert clients.anonymous("GET", f"/{bucket}/missing").status_code == 403
        assert gateway.refused == 2
    finally:
        gateway.close()


def test_a_node_that_never_gets_ready_is_a_temporary_error_naming_the_path(minio):
    gateway = NotYetGateway(minio, refusals=10**6)
    try:
        clients = dataclasses.replace(offline_clients(), endpoint=gateway.endpoint, budget=1)
        with pytest.raises(TemporaryError) as caught:
            clients.anonymous("GET", "/some-bucket/key?X-Amz-Signature=abc")
        assert str(caught.value) == "GET /some-bucket/key: HTTP 503"  # never the query
        assert gateway.refused > 1
    finally:
        gateway.close()


# --- raw calls: signed with signer.core's SigV4, answered like minio-py's -----------------------


def xml_answer(status: int, code: str) -> urllib3.HTTPResponse:
    body = f"<Error><Code>{code}</Code><Message>m</Message><Resource>/b</Resource></Error>"
    return urllib3.HTTPResponse(
        body=body.encode(), status=status, headers={"Content-Type": "application/xml"}
    )


def test_error_from_answer_reads_the_xml():
    error = error_from_answer(xml_answer(503, "SlowDown"), "b")
    assert (error.code, error.message, error.resource) == ("SlowDown", "m", "/b")
    assert is_temporary(error)


@pytest.mark.parametrize(
    ("status", "code", "temporary"),
    [(403, "AccessDenied", False), (502, "ServiceUnavailable", True), (418, None, False)],
)
def test_error_from_answer_without_xml_names_it_by_status(status, code, temporary):
    page = urllib3.HTTPResponse(body=b"<html>proxy</html>", status=status)
    error = error_from_answer(page, "b")
    assert error.code == code and error.bucket_name == "b"
    assert is_temporary(error) is temporary
    if code is None:
        assert explain(error).message == f"HTTP {status}"


def test_bucket_call_is_signed_and_answers_with_s3_errors(minio):
    bucket = _bucket(minio, "s3-raw-call")
    clients = Clients.connect(settings_for(minio))
    with pytest.raises(S3Error) as info:
        clients.bucket_call("GET", bucket, "cors")
    # The signature was accepted: the answer is about the bucket's CORS, which MinIO keeps
    # server-wide.
    assert info.value.code == "NoSuchCORSConfiguration"
    with pytest.raises(S3Error) as info:
        clients.bucket_call("GET", "s3-raw-call-missing", "cors")
    assert info.value.code == "NoSuchBucket"

    wrong = dataclasses.replace(clients, root=Credentials(minio.access_key, "not-the-secret"))
    with pytest.raises(S3Error) as info:
        wrong.bucket_call("PUT", bucket, "cors", body=b"<x/>", headers={"Content-MD5": "AA=="})
    assert info.value.code == "SignatureDoesNotMatch"
    assert "MINIO_ROOT_PASSWORD" in (explain(info.value).hint or "")


def test_bucket_call_retries_a_dropped_request(minio):
    bucket = _bucket(minio, "s3-raw-call")
    pool = DroppingPool(lambda method, url: "cors=" in url)
    clients = Clients.connect(settings_for(minio), http=pool)
    with pytest.raises(S3Error) as info:
        clients.bucket_call("GET", bucket, "cors")
    assert info.value.code == "NoSuchCORSConfiguration"
    assert len(pool.dropped) == 1
    # Recorded as the root's request although presigned: the key is in X-Amz-Credential.
    (sent,) = [r for r in pool.requests if "cors=" in r.query]
    assert sent.access_key == minio.access_key


# --- admin calls minio-py has no method for: header-signed, answered like minio-py's ----------


def test_admin_error_is_minio_pys_exception():
    error = admin_error(urllib3.HTTPResponse(body=b'{"Code":"XMinioAdminNoSuchUser"}', status=404))
    assert error_code(error) == "XMinioAdminNoSuchUser" and admin_status(error) == 404
    assert not is_temporary(error)
    garbled = admin_error(urllib3.HTTPResponse(body=b"\xff\xfe", status=502))
    assert str(garbled) == "admin request failed; Status: 502, Body: fffe"  # as minio-py
    assert error_code(garbled) is None and is_temporary(garbled)


def test_minio_admin_api_refuses_presigned_requests(minio):
    # Why admin_call signs in headers: the same request presigned is refused, even for root.
    clients = Clients.connect(settings_for(minio))
    url = presign_url(
        method="GET",
        endpoint=minio.endpoint,
        bucket=None,
        key="minio/admin/v3/accountinfo",
        access_key=minio.access_key,
        secret_key=minio.secret_key,
        region=clients.region,
        expires=60,
        now=datetime.now(UTC),
    )
    refused = clients.http.request("GET", url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert error_code(admin_error(refused)) == "AccessDenied"
    assert json.loads(clients.admin_call("GET", "accountinfo"))["AccountName"] == minio.access_key


def test_admin_call_signs_bodies_decrypts_and_answers_with_admin_errors(minio):
    clients = Clients.connect(settings_for(minio))
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["admin:*"]}]}
    clients.admin_call(
        "PUT", "add-canned-policy", {"name": "s3-admin-call"}, json.dumps(policy).encode()
    )
    try:
        assert json.loads(minio.admin().policy_info("s3-admin-call"))["Statement"]
    finally:
        minio.admin().policy_remove("s3-admin-call")
    # An answer MinIO encrypts with the caller's secret comes back decrypted.
    listed = clients.admin_call(
        "GET", "list-access-keys-bulk", {"all": "true", "listType": "all"}, encrypted=True
    )
    assert isinstance(json.loads(listed), dict)

    with pytest.raises(MinioAdminException) as info:
        clients.admin_call("GET", "user-info", {"accessKey": "s3-no-such-user"})
    assert error_code(info.value) == "XMinioAdminNoSuchUser"
    wrong = dataclasses.replace(clients, root=Credentials(minio.access_key, "not-the-secret"))
    with pytest.raises(MinioAdminException) as info:
        wrong.admin_call("GET", "list-access-keys-bulk", {"listType": "all"}, encrypted=True)
    assert error_code(info.value) == "SignatureDoesNotMatch"
    assert "MINIO_ROOT_PASSWORD" in (explain(info.value).hint or "")
    stranger = Credentials("s3-nobody", "s3-nobody-secret")
    with pytest.raises(MinioAdminException) as info:
        clients.admin_call("GET", "accountinfo", creds=stranger)
    assert error_code(info.value) == "InvalidAccessKeyId"


def test_admin_call_retries_a_dropped_request(minio):
    pool = DroppingPool(lambda method, url: "/minio/admin/v3/list-access-keys-bulk" in url)
    clients = Clients.connect(settings_for(minio), http=pool)
    listed = clients.admin_call(
        "GET", "list-access-keys-bulk", {"all": "true", "listType": "all"}, encrypted=True
    )
    assert isinstance(json.loads(listed), dict)
    assert len(pool.dropped) == 1
    # Signed in its Authorization header, by root.
    (sent,) = [r for r in pool.requests if r.path.endswith("list-access-keys-bulk")]
    assert sent.access_key == minio.access_key and "X-Amz-Credential" not in sent.query
