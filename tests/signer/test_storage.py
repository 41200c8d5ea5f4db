"""The signer's storage calls, with its own bucket-scoped keys, against real MinIO."""

from __future__ import annotations

import io
import secrets
import xml.etree.ElementTree as ET  # noqa: S405 - reads the test's own MinIO
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from common.s3vocab import INTENTS_PREFIX
from harness.minio_server import free_port
from minio import Minio
from signer.core.errors import ErrorCode, SignerError
from signer.core.sigv4 import presign_url
from signer.settings import Settings, load
from signer.storage import Access, SourceChanged, Storage, UploadGone, staging_key
from tests.signer.conftest import Identity

MiB = 1024 * 1024
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module")
def storage(settings: Settings) -> Storage:
    return Storage.from_settings(settings)


def key() -> str:
    return f"uploads/test/{secrets.token_hex(6)}.bin"


def test_stat_remove(storage: Storage, identity: Identity) -> None:
    name = key()
    assert storage.stat(name) is None
    identity.root.put_object(
        identity.bucket,
        name,
        io.BytesIO(b"abc"),
        3,
        content_type="text/plain",
        metadata={"x-amz-meta-state": "x"},
    )
    found = storage.stat(name)
    assert found is not None
    assert (found.size, found.content_type, found.metadata["state"]) == (3, "text/plain", "x")
    storage.remove(name)
    assert storage.stat(name) is None


def test_records_are_written_once(storage: Storage, identity: Identity) -> None:
    jti = secrets.token_hex(8)
    assert storage.intent_state(jti) is None
    assert storage.record_intent(jti, "completed", {"n": 1}) is True
    assert storage.record_intent(jti, "aborted", {"n": 2}) is False  # 412 from storage
    assert storage.intent_state(jti) == "completed"
    stored = identity.root.get_object(identity.bucket, INTENTS_PREFIX + jti).read()
    assert stored == b'{"n": 1}'


def test_multipart_create_list_complete(storage: Storage, identity: Identity) -> None:
    name = key()
    upload_id = storage.create_multipart(name, {"Content-Type": "application/octet-stream"})
    assert storage.list_parts(name, upload_id) == []
    url = identity.root.get_presigned_url(
        "PUT",
        identity.bucket,
        name,
        extra_query_params={"partNumber": "1", "uploadId": upload_id},
    )
    assert requests.put(url, data=b"x" * 10, timeout=10).status_code == 200
    parts = storage.list_parts(name, upload_id)
    assert [(p.part_number, p.size) for p in parts] == [(1, 10)]
    etag = storage.complete_multipart(name, upload_id, [(1, parts[0].etag)])
    assert etag and etag.endswith("-1")
    found = storage.stat(name)
    assert found is not None and found.content_type == "application/octet-stream"
    # MinIO checks If-None-Match before it looks the upload up: a repeat is 412, not 404.
    assert storage.complete_multipart(name, upload_id, [(1, parts[0].etag)]) is None
    with pytest.raises(UploadGone):
        storage.list_parts(name, upload_id)


def test_unknown_uploads_are_gone(storage: Storage) -> None:
    name = key()
    upload_id = storage.create_multipart(name, {"Content-Type": "text/plain"})
    storage.abort_multipart(name, upload_id)
    with pytest.raises(UploadGone):
        storage.complete_multipart(name, upload_id, [(1, "0" * 32)])
    with pytest.raises(UploadGone):
        storage.list_parts(name, upload_id)
    # MinIO answers 204 to aborting an unknown upload id on purpose (so the service lists
    # parts first to tell "gone" apart).
    storage.abort_multipart(name, upload_id)


def test_complete_never_overwrites(storage: Storage, identity: Identity) -> None:
    """MinIO honours If-None-Match: * on CompleteMultipartUpload (412 when the key exists)."""
    name = key()
    upload_id = storage.create_multipart(name, {"Content-Type": "text/plain"})
    url = identity.root.get_presigned_url(
        "PUT", identity.bucket, name, extra_query_params={"partNumber": "1", "uploadId": upload_id}
    )
    part = requests.put(url, data=b"part", timeout=10)
    identity.root.put_object(identity.bucket, name, io.BytesIO(b"first"), 5)
    assert storage.complete_multipart(name, upload_id, [(1, part.headers["ETag"])]) is None
    assert identity.root.get_object(identity.bucket, name).read() == b"first"
    storage.abort_multipart(name, upload_id)


def test_a_wrong_part_list_is_bad_request(storage: Storage) -> None:
    name = key()
    upload_id = storage.create_multipart(name, {"Content-Type": "text/plain"})
    with pytest.raises(SignerError) as caught:
        storage.complete_multipart(name, upload_id, [(1, "0" * 32)])
    assert caught.value.code is ErrorCode.BAD_REQUEST and "InvalidPart" in caught.value.message
    storage.abort_multipart(name, upload_id)


def test_sse_without_kms_is_storage_denied(no_kms_env: dict[str, str]) -> None:
    storage = Storage.from_settings(load(no_kms_env))
    with pytest.raises(SignerError) as caught:
        storage.create_multipart(
            key(), {"Content-Type": "text/plain", "x-amz-server-side-encryption": "AES256"}
        )
    assert caught.value.code is ErrorCode.STORAGE_DENIED
    assert "NotImplemented" in caught.value.message and "KMS" in caught.value.hint


def test_the_identity_is_scoped_to_its_bucket(identity: Identity, settings: Settings) -> None:
    other = "other-" + secrets.token_hex(4)
    identity.root.make_bucket(other)
    scoped = Storage(replace(Access.from_settings(settings), bucket=other))
    for call in (lambda: scoped.create_multipart("a.txt", {}), scoped.check_ready):
        with pytest.raises(SignerError) as caught:
            call()
        assert caught.value.code is ErrorCode.STORAGE_DENIED
        assert "AccessDenied" in caught.value.message and "policy" in caught.value.hint


def test_ready_checks(storage: Storage, settings: Settings, identity: Identity) -> None:
    storage.check_ready()
    access = Access.from_settings(settings)
    missing = Storage(replace(access, bucket="no-such-bucket-" + secrets.token_hex(3)))
    with pytest.raises(SignerError) as caught:
        missing.check_ready()
    assert "NoSuchBucket" in caught.value.message or "AccessDenied" in caught.value.message

    wrong = Storage(replace(access, secret_key="not-the-secret", timeout=5))
    with pytest.raises(SignerError) as caught:
        wrong.check_ready()
    assert "SignatureDoesNotMatch" in caught.value.message
    assert "SIGNER_SECRET_KEY" in caught.value.hint


def test_a_region_storage_is_not_in_is_named_with_the_variable_to_set(minio_factory) -> None:
    # MinIO checks the region only when it has one: MINIO_REGION set on MinIO's side while the
    # signer signs for us-east-1.
    server = minio_factory(extra_env={"MINIO_REGION": "eu-central-1"})
    root = Minio(
        server.host, server.access_key, server.secret_key, secure=False, region="eu-central-1"
    )
    root.make_bucket("uploads")
    access = Access(server.endpoint, "uploads", server.access_key, server.secret_key)
    with pytest.raises(SignerError) as caught:
        Storage(access).check_ready()
    assert "AuthorizationHeaderMalformed" in caught.value.message
    assert "expecting 'eu-central-1'" in caught.value.message
    assert "set S3_REGION (or MINIO_REGION" in caught.value.hint
    Storage(replace(access, region="eu-central-1")).check_ready()


def test_unreachable_storage_says_retry(settings: Settings) -> None:
    access = Access.from_settings(settings)
    dead = Storage(replace(access, endpoint=f"http://127.0.0.1:{free_port()}", timeout=2))
    for call in (lambda: dead.stat("a"), lambda: dead.create_multipart("a", {}), dead.check_ready):
        with pytest.raises(SignerError) as caught:
            call()
        assert caught.value.code is ErrorCode.STORAGE_DENIED
        assert caught.value.retry_after_seconds == 5
        assert "X-Amz" not in caught.value.message and settings.secret_key not in str(caught.value)


# --- promote: how complete moves a staged upload to its key ---------------------------------


def _staged(identity: Identity, body: bytes, **headers: str) -> str:
    """A staged upload as a client's PUT leaves it, headers the signer never signs included."""
    name = staging_key(secrets.token_hex(8))
    identity.root.put_object(
        identity.bucket,
        name,
        io.BytesIO(body),
        len(body),
        content_type="text/plain",
        metadata=headers,
    )
    return name


def _multipart_uploads(settings: Settings, name: str) -> list[str]:
    """The upload ids storage still holds for ``name`` (ListMultipartUploads)."""
    url = presign_url(
        method="GET",
        endpoint=settings.s3_endpoint,
        bucket=None,
        key=settings.bucket,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        region=settings.region,
        expires=60,
        now=datetime.now(UTC),
        query={"uploads": "", "prefix": name},
    )
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)  # noqa: S314 - the test's own MinIO
    return [e.text or "" for e in root.iter(f"{S3_NS}UploadId")]


def test_promote_copies_with_exactly_the_given_headers(
    storage: Storage, identity: Identity
) -> None:
    source = _staged(
        identity,
        b"promoted",
        **{"Content-Disposition": "attachment; filename=x.exe", "Cache-Control": "public"},
    )
    staged = storage.stat(source)
    assert staged is not None
    assert staged.served == {
        "content-disposition": "attachment; filename=x.exe",
        "cache-control": "public",
    }
    name = key()
    etag = storage.promote(staged, name, {"Content-Type": "text/plain", "x-amz-meta-intent": "i"})
    assert etag and etag.endswith("-1")
    found = storage.stat(name)
    assert found is not None
    assert (found.size, found.etag, found.content_type) == (8, etag, "text/plain")
    assert found.metadata == {"intent": "i"} and found.served == {}
    assert identity.root.get_object(identity.bucket, name).read() == b"promoted"


def test_promote_never_overwrites(storage: Storage, identity: Identity, settings: Settings) -> None:
    staged = storage.stat(_staged(identity, b"second"))
    assert staged is not None
    name = key()
    identity.root.put_object(identity.bucket, name, io.BytesIO(b"first"), 5)
    assert storage.promote(staged, name, {"Content-Type": "text/plain"}) is None
    assert identity.root.get_object(identity.bucket, name).read() == b"first"
    assert _multipart_uploads(settings, name) == []


def test_promote_refuses_a_source_that_changed(
    storage: Storage, identity: Identity, settings: Settings
) -> None:
    """A form can be posted again to its staging key while complete runs: only the object
    complete checked (its ETag) is promoted, and no upload is left behind."""
    source = _staged(identity, b"checked")
    staged = storage.stat(source)
    assert staged is not None
    identity.root.put_object(identity.bucket, source, io.BytesIO(b"swapped"), 7)
    name = key()
    with pytest.raises(SourceChanged):
        storage.promote(staged, name, {"Content-Type": "text/plain"})
    identity.root.remove_object(identity.bucket, source)
    with pytest.raises(SourceChanged):
        storage.promote(staged, name, {"Content-Type": "text/plain"})
    assert storage.stat(name) is None
    assert _multipart_uploads(settings, name) == []


def test_promote_copies_an_empty_upload(storage: Storage, identity: Identity) -> None:
    staged = storage.stat(_staged(identity, b""))
    assert staged is not None
    name = key()
    assert storage.promote(staged, name, {"Content-Type": "text/plain"})
    found = storage.stat(name)
    assert found is not None and found.size == 0


def test_promote_never_overwrites_an_object_that_appears_meanwhile(
    settings: Settings, identity: Identity
) -> None:
    """Where CreateMultipartUpload's If-None-Match is not honoured (SeaweedFS), or an object
    arrives while the copy runs, CompleteMultipartUpload's If-None-Match still refuses; the
    promotion's upload is then aborted."""
    name = key()

    class Racing(Storage):
        def _copy_part(self, *args: Any, **kwargs: Any) -> str:
            etag = super()._copy_part(*args, **kwargs)
            identity.root.put_object(identity.bucket, name, io.BytesIO(b"first"), 5)
            return etag

    racing = Racing.from_settings(settings)
    staged = racing.stat(_staged(identity, b"second"))
    assert staged is not None
    assert racing.promote(staged, name, {"Content-Type": "text/plain"}) is None
    assert identity.root.get_object(identity.bucket, name).read() == b"first"
    assert _multipart_uploads(settings, name) == []
