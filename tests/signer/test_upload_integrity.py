"""Issue 14's upload-integrity holes, each replayed as the probe found it, against real MinIO.

The rules they check: no route lets a caller write over an object that exists; once complete
accepted an object nothing a client holds can change it; a multipart upload completes only
at the size it declared; after an abort the URL cannot re-create a downloadable object; what
a download serves is decided by the signer, never by what an uploader sent; and a size above
the profile's size_max is size_too_large whatever its value.

Each test sends what an attacker holding the answers would send (the same form again, a URL
after abort, unsigned headers on a signed PUT) and then looks at storage itself, as root.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from minio.datatypes import Object
from minio.error import S3Error

from common.s3vocab import NOT_FOUND_CODES
from harness.minio_server import MinioServer
from signer.app import create_app
from signer.settings import load
from tests.signer.conftest import (
    Api,
    Identity,
    RunningSigner,
    assert_error,
    environment,
    make_identity,
)

MiB = 1024 * 1024
TiB = 1024 * 1024 * MiB
PRESIGN_POST = "/v1/uploads/presign-post"
COMPLETE = "/v1/uploads/complete"
ABORT = "/v1/uploads/abort"
DOWNLOAD = "/v1/downloads/presign"


# The helpers are this file's own (no import of the code under test), so the same file also
# runs against the signer before the fix and shows each hole there.


def presign(api: Api, **fields: Any) -> dict[str, Any]:
    return api.ok("/v1/uploads/presign", {"content_type": "text/plain", **fields})


def put(upload: dict[str, Any], body: bytes, **extra_headers: str) -> requests.Response:
    headers = {**upload["headers"], **extra_headers}
    return requests.put(upload["url"], data=body, headers=headers, timeout=30)


def jti_of(intent: dict[str, Any]) -> str:
    payload = intent["intent_token"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


class Bucket:
    """The session bucket as root sees it, to look behind the signer's back. Its repr names
    the bucket only, so a failing assertion never prints the identity's secret."""

    def __init__(self, identity: Identity) -> None:
        self._root = identity.root
        self.name = identity.bucket

    def __repr__(self) -> str:
        return f"Bucket({self.name!r})"

    def exists(self, key: str) -> bool:
        try:
            self._root.stat_object(self.name, key)
        except S3Error as exc:
            if exc.code in NOT_FOUND_CODES:
                return False
            raise
        return True

    def read(self, key: str) -> bytes:
        return self._root.get_object(self.name, key).read()

    def stat(self, key: str) -> Object:
        return self._root.stat_object(self.name, key)

    def tags(self, key: str) -> object:
        return self._root.get_object_tags(self.name, key)

    def presigned(self, method: str, key: str, **kwargs: Any) -> str:
        return self._root.get_presigned_url(method, self.name, key, **kwargs)

    def headers(self, key: str) -> dict[str, str]:
        return {name.lower(): value for name, value in (self.stat(key).metadata or {}).items()}


@pytest.fixture(scope="module")
def bucket(identity: Identity) -> Bucket:
    return Bucket(identity)


def post_form(intent: dict[str, Any], body: bytes, content_type: str) -> requests.Response:
    """The browser form the presign-post answer describes, with ``body`` as its file."""
    upload = intent["upload"]
    return requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("f", io.BytesIO(body), content_type)},
        timeout=30,
    )


# --- 1: a form upload (POST policy) cannot overwrite another caller's object ------------------


def test_a_form_upload_never_overwrites_another_intents_object(api: Api, bucket: Bucket) -> None:
    """Two callers ask for the same key_base ({key_base} in the key template): the second
    one's form, its POST and its complete must leave the first one's object as it was."""
    fields = {
        "profile": "listing",
        "content_type": "image/jpeg",
        "key_base": "01HFORM" + secrets.token_hex(4).upper(),
    }
    first = api.ok(PRESIGN_POST, fields)
    assert post_form(first, b"first caller's photo", "image/jpeg").status_code == 204
    done = api.ok(COMPLETE, {"intent_token": first["intent_token"]})

    second = api.ok(PRESIGN_POST, fields)
    assert second["object_key"] == first["object_key"]
    post_form(second, b"second caller's bytes", "image/jpeg")
    error = assert_error(
        api.post(COMPLETE, {"intent_token": second["intent_token"]}), 409, "conflict"
    )
    assert "key_base" in error["hint"]

    key = first["object_key"]
    assert bucket.read(key) == b"first caller's photo"
    assert bucket.stat(key).etag == done["etag"]
    assert bucket.headers(key)["x-amz-meta-intent"] == jti_of(first)


# --- 2: nothing a client holds changes an object after complete -------------------------------


def test_a_form_cannot_change_an_object_after_complete(api: Api, bucket: Bucket) -> None:
    """POST, complete (which checked size and type), POST the same form again: the object
    complete accepted stays exactly as it was."""
    intent = api.ok(PRESIGN_POST, {"content_type": "text/plain", "filename": "notes.txt"})
    assert post_form(intent, b"checked by complete", "text/plain").status_code == 204
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})

    post_form(intent, b"swapped in afterwards", "text/plain")
    key = intent["object_key"]
    assert bucket.read(key) == b"checked by complete"
    assert bucket.stat(key).etag == done["etag"]
    assert requests.get(done["get_url"], timeout=30).content == b"checked by complete"
    assert_error(api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 409, "conflict")
    assert bucket.read(key) == b"checked by complete"


def test_a_put_url_cannot_change_an_object_after_complete(api: Api, bucket: Bucket) -> None:
    intent = presign(api, size_bytes=5)
    assert put(intent["upload"], b"first").status_code == 200
    api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    # The staging key was emptied by complete, so the URL can write there once more: never
    # to the object, and complete will not take it.
    put(intent["upload"], b"later")
    assert bucket.read(intent["object_key"]) == b"first"
    assert_error(api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 409, "conflict")
    assert bucket.read(intent["object_key"]) == b"first"


# --- 5: a multipart upload completes only at its declared size ---------------------------------


def _send_part(intent: dict[str, Any], number: int, body: bytes) -> dict[str, Any]:
    part = next(p for p in intent["upload"]["parts"] if p["part_number"] == number)
    sent = requests.put(part["url"], data=body, headers=part["headers"], timeout=60)
    assert sent.status_code == 200, sent.text
    return {"part_number": number, "etag": sent.headers["ETag"]}


def test_multipart_complete_is_held_to_the_declared_size(api: Api, bucket: Bucket) -> None:
    """A 12 MiB intent (parts of 5, 5 and 2 MiB) completed with only part 2 is refused,
    with a part list or without one, and nothing appears at the key; the upload survives,
    so the missing parts can still be sent and the upload completed."""
    size = 12 * MiB
    body = bytes(range(256)) * (size // 256)
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=size, multipart="force"
    )
    assert intent["upload"]["part_count"] == 3
    token = intent["intent_token"]
    second = _send_part(intent, 2, body[5 * MiB : 10 * MiB])

    error = assert_error(
        api.post(COMPLETE, {"intent_token": token, "parts": [second]}), 400, "bad_request"
    )
    assert "1, 3" in error["message"] and "declared" in error["message"]
    error = assert_error(api.post(COMPLETE, {"intent_token": token}), 400, "bad_request")
    assert "1, 3" in error["message"]
    assert not bucket.exists(intent["object_key"])

    first = _send_part(intent, 1, body[: 5 * MiB])
    third = _send_part(intent, 3, body[10 * MiB :])
    done = api.ok(COMPLETE, {"intent_token": token, "parts": [first, second, third]})
    assert done["size_bytes"] == size
    assert bucket.read(intent["object_key"]) == body


def test_a_multipart_object_of_another_size_is_deleted_at_complete(
    api: Api, bucket: Bucket
) -> None:
    """Completed behind the signer's back (root) with part 2 alone: complete finds an
    object of the wrong size at the key, deletes it and says so."""
    size = 12 * MiB
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=size, multipart="force"
    )
    second = _send_part(intent, 2, b"2" * (5 * MiB))
    root_url = bucket.presigned(
        "POST",
        intent["object_key"],
        extra_query_params={"uploadId": intent["upload"]["upload_id"]},
    )
    xml = (
        "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber>"
        f"<ETag>{second['etag']}</ETag></Part></CompleteMultipartUpload>"
    )
    assert requests.post(root_url, data=xml, timeout=30).status_code == 200
    assert bucket.exists(intent["object_key"])

    error = assert_error(
        api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 400, "bad_request"
    )
    assert f"{5 * MiB} bytes but {size} were declared" in error["message"]
    assert "deleted" in error["hint"]
    assert not bucket.exists(intent["object_key"])


# --- 6: after an abort, the URL cannot bring the object back ----------------------------------


def test_an_aborted_single_upload_cannot_come_back(api: Api, bucket: Bucket) -> None:
    intent = presign(api, size_bytes=5, filename="a.txt")
    assert put(intent["upload"], b"first").status_code == 200
    api.ok(ABORT, {"intent_token": intent["intent_token"]})

    put(intent["upload"], b"again")  # the URL has not expired
    key = intent["object_key"]
    assert not bucket.exists(key)
    assert requests.get(intent["get_url"], timeout=30).status_code == 404
    assert_error(api.post(DOWNLOAD, {"object_key": key}), 404, "not_found")
    answer = api.post(COMPLETE, {"intent_token": intent["intent_token"]})
    assert "aborted" in assert_error(answer, 409, "conflict")["message"]
    assert not bucket.exists(key)


def test_an_aborted_form_upload_cannot_come_back(api: Api, bucket: Bucket) -> None:
    intent = api.ok(PRESIGN_POST, {"content_type": "text/plain"})
    assert post_form(intent, b"first", "text/plain").status_code == 204
    api.ok(ABORT, {"intent_token": intent["intent_token"]})

    post_form(intent, b"again", "text/plain")
    assert not bucket.exists(intent["object_key"])
    assert requests.get(intent["get_url"], timeout=30).status_code == 404
    assert_error(api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 409, "conflict")
    assert not bucket.exists(intent["object_key"])


# --- 7: headers the signer did not sign never reach a download --------------------------------

UNSIGNED = {
    "Content-Disposition": 'attachment; filename="invoice.pdf.exe"',
    "Content-Encoding": "gzip",
    "Cache-Control": "public, max-age=31536000",
    "Expires": "Thu, 01 Dec 2094 16:00:00 GMT",
    "Content-Language": "de",
    "x-amz-tagging": "owner=attacker",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
}
SERVED = ("Content-Disposition", "Content-Encoding", "Cache-Control", "Expires", "Content-Language")


def test_unsigned_upload_headers_never_reach_a_download(api: Api, bucket: Bucket) -> None:
    """MinIO stores headers a client adds to a presigned PUT without the signature covering
    them, and serves them back. Complete stores only what the signer chose, and every GET URL
    pins what is served."""
    body = b"plain text, not an executable"
    intent = presign(api, size_bytes=len(body))
    sent = put(intent["upload"], body, **UNSIGNED)
    assert sent.status_code == 200, sent.text  # storage itself accepts them
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})

    download = api.ok(DOWNLOAD, {"object_key": intent["object_key"], "disposition": "inline"})
    for url in (done["get_url"], intent["get_url"], download["url"]):
        fetched = requests.get(url, timeout=30, stream=True)
        assert fetched.status_code == 200
        assert fetched.raw.read(decode_content=False) == body
        assert fetched.headers["Content-Type"] == "text/plain"
        assert fetched.headers["Content-Disposition"] == "inline"
        for name in ("Content-Encoding", "Cache-Control", "Expires", "Content-Language"):
            assert name not in fetched.headers, (name, fetched.headers)

    headers = bucket.headers(intent["object_key"])
    for name in (*SERVED, "x-amz-storage-class", "x-amz-tagging-count"):
        assert name.lower() not in headers, (name, headers)
    assert bucket.tags(intent["object_key"]) is None


def test_unsigned_headers_on_a_part_are_never_stored(api: Api, bucket: Bucket) -> None:
    """A multipart object gets its headers when the signer creates it; storage keeps none
    from a part upload."""
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=100, multipart="force"
    )
    part = intent["upload"]["parts"][0]
    sent = requests.put(
        part["url"], data=b"p" * 100, headers={**part["headers"], **UNSIGNED}, timeout=30
    )
    assert sent.status_code == 200, sent.text
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    fetched = requests.get(done["get_url"], timeout=30)
    assert fetched.headers["Content-Type"] == "application/octet-stream"
    for name in SERVED[1:]:
        assert name not in fetched.headers, (name, fetched.headers)


# --- a size above size_max is size_too_large, whatever its value -------------------------------


def test_any_size_above_size_max_is_size_too_large(api: Api) -> None:
    for size in (100 * MiB + 1, 5 * TiB + 1, 10 * TiB, 2**80):
        for path in ("/v1/uploads/presign", PRESIGN_POST):
            answer = api.post(path, {"content_type": "text/plain", "size_bytes": size})
            body = assert_error(answer, 413, "size_too_large")
            assert "100 MiB" in body["hint"]
    answer = api.post("/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": -1})
    assert_error(answer, 400, "bad_request")


# --- uploads that storage encrypts (SSE-S3) are promoted encrypted ----------------------------


@pytest.fixture(scope="module")
def kms_api(
    tmp_path_factory: pytest.TempPathFactory, policy_file: Path
) -> Iterator[tuple[Api, Bucket]]:
    """A MinIO with its built-in static KMS key, so the "sse" profile's required
    x-amz-server-side-encryption: AES256 works, and a signer in front of it."""
    base = tmp_path_factory.mktemp("minio-kms")
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    server = MinioServer(
        data_dir=base / "data",
        log_path=base / "minio.log",
        extra_env={"MINIO_KMS_SECRET_KEY": f"minio-stack-test:{key}"},
    ).start()
    try:
        identity = make_identity(server, "kms-" + secrets.token_hex(4))
        running = RunningSigner(create_app(load(environment(identity, policy_file)))).start()
        try:
            yield Api(running.url), Bucket(identity)
        finally:
            running.stop()
    finally:
        server.stop()


def test_an_encrypted_upload_is_promoted_encrypted(kms_api: tuple[Api, Bucket]) -> None:
    api, bucket = kms_api
    fields = {"profile": "sse", "content_type": "text/plain"}
    single = presign(api, **fields, size_bytes=5, multipart="off")
    assert single["upload"]["headers"]["x-amz-server-side-encryption"] == "AES256"
    assert put(single["upload"], b"hello").status_code == 200
    form = api.ok(PRESIGN_POST, fields)
    assert post_form(form, b"form bytes", "text/plain").status_code == 204
    for intent, body in ((single, b"hello"), (form, b"form bytes")):
        done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
        headers = bucket.headers(intent["object_key"])
        assert headers["x-amz-server-side-encryption"] == "AES256", headers
        assert requests.get(done["get_url"], timeout=30).content == body
