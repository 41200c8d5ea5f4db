"""Uploads end to end against real MinIO: what the signer signs, storage enforces.

Every refusal of bytes here comes from storage itself (a changed header breaks the signature,
a conditional PUT fails, a POST policy condition fails), not from the HTTP client. The one pure
helper of signer.uploads (the checksum's two spellings) is tested first, with plain values.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from signer.core.errors import ErrorCode, SignerError
from signer.core.sigv4 import presign_url
from signer.models import AbortRequest, AbortResponse, CompleteRequest
from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage, staging_key
from signer.uploads import abort_upload, checksum_header, complete_upload
from tests.signer.conftest import Api, Identity, assert_error

MiB = 1024 * 1024
PRESIGN = "/v1/uploads/presign"
COMPLETE = "/v1/uploads/complete"


def presign(api: Api, **fields) -> dict:
    return api.ok(PRESIGN, {"content_type": "text/plain", **fields})


def put(upload: dict, body: bytes, **header_overrides: str) -> requests.Response:
    headers = {**upload["headers"], **header_overrides}
    return requests.put(upload["url"], data=body, headers=headers, timeout=30)


def storage_code(answer: requests.Response) -> str:
    return answer.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def raw_put(url: str, headers: dict[str, str], body: bytes) -> int:
    """A PUT that sends exactly ``headers`` and ``body``, whatever Content-Length claims, then
    half-closes: storage, not the HTTP client, has to notice a short body."""
    parts = urlsplit(url)
    request = (
        f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "Connection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def jti_of(intent: dict) -> str:
    """The intent id, read from the token's (signed, not secret) payload."""
    payload = intent["intent_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


def staged(intent: dict) -> str:
    """Where the intent's single PUT or form upload lands until complete promotes it."""
    return staging_key(jti_of(intent))


def one_part_etag(body: bytes) -> str:
    """S3's ETag of an object completed from one part holding ``body``."""
    part = hashlib.md5(body, usedforsecurity=False).digest()
    return hashlib.md5(part, usedforsecurity=False).hexdigest() + "-1"


def plant(
    identity: Identity, intent: dict, body: bytes, content_type: str, key: str | None = None
) -> None:
    """Store ``body`` where the intent's upload lands (or at ``key``) behind the signer's back
    (root), as if storage had accepted something the URL did not allow."""
    identity.root.put_object(
        identity.bucket,
        key or staged(intent),
        io.BytesIO(body),
        len(body),
        content_type=content_type,
        metadata={"x-amz-meta-intent": jti_of(intent)},
    )


def exists(identity: Identity, key: str) -> bool:
    try:
        identity.root.stat_object(identity.bucket, key)
    except Exception:
        return False
    return True


def test_checksum_header_accepts_base64_and_hex() -> None:
    digest = hashlib.sha256(b"x").digest()
    b64 = base64.b64encode(digest).decode()
    assert checksum_header(b64) == b64
    assert checksum_header(digest.hex()) == b64
    assert checksum_header(digest.hex().upper()) == b64
    for bad in ("", "abc", base64.b64encode(b"short").decode(), "z" * 64):
        with pytest.raises(SignerError) as caught:
            checksum_header(bad)
        assert caught.value.code is ErrorCode.BAD_REQUEST


def test_single_put_round_trip_gives_back_identical_bytes(api: Api, identity: Identity) -> None:
    body = bytes(range(256)) * 4
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=len(body), filename="data.bin"
    )
    assert intent["strategy"] == "single"
    assert intent["object_key"].startswith("uploads/") and intent["object_key"].endswith(".bin")
    # The bytes go to the intent's own staging key; complete moves them to object_key.
    assert urlsplit(intent["upload"]["url"]).path.endswith("/" + staged(intent))
    assert intent["upload"]["headers"] == {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(body)),
        "If-None-Match": "*",
        "x-amz-meta-intent": jti_of(intent),
    }
    assert put(intent["upload"], body).status_code == 200
    assert requests.get(intent["get_url"], timeout=30).status_code == 404  # not completed yet

    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    assert done["object_key"] == intent["object_key"]
    assert done["size_bytes"] == len(body)
    assert done["content_type"] == "application/octet-stream"
    # Stored by a one-part multipart completion (the promotion): S3's multipart ETag form.
    assert done["etag"] == one_part_etag(body)
    assert identity.root.stat_object(identity.bucket, done["object_key"]).etag == done["etag"]
    fetched = requests.get(done["get_url"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == body
    assert requests.get(intent["get_url"], timeout=30).content == body
    assert not exists(identity, staged(intent))


def test_urls_are_signed_for_the_public_endpoint(
    api: Api, identity: Identity, settings: Settings
) -> None:
    """The signer talks to 127.0.0.1 but signs for localhost, the name clients use: the URL
    works there, and SigV4 signs the Host, so the same URL sent to 127.0.0.1 fails."""
    assert settings.s3_endpoint.startswith("http://127.0.0.1:")
    body = b"public endpoint"
    intent = presign(api, size_bytes=len(body))
    url = intent["upload"]["url"]
    assert urlsplit(url).netloc == f"localhost:{identity.minio.api_port}"

    internal = url.replace("//localhost:", "//127.0.0.1:", 1)
    refused = requests.put(internal, data=body, headers=intent["upload"]["headers"], timeout=30)
    assert refused.status_code == 403 and storage_code(refused) == "SignatureDoesNotMatch"
    assert put(intent["upload"], body).status_code == 200


def test_storage_refuses_another_content_type(api: Api, identity: Identity) -> None:
    intent = presign(api, size_bytes=5)
    answer = put(intent["upload"], b"hello", **{"Content-Type": "image/png"})
    assert answer.status_code == 403 and storage_code(answer) == "SignatureDoesNotMatch"
    assert not exists(identity, intent["object_key"])


@pytest.mark.parametrize("length", [4, 6])
def test_storage_refuses_a_body_of_another_length(
    api: Api, identity: Identity, length: int
) -> None:
    intent = presign(api, size_bytes=5)
    answer = put(intent["upload"], b"x" * length, **{"Content-Length": str(length)})
    assert answer.status_code == 403 and storage_code(answer) == "SignatureDoesNotMatch"
    assert not exists(identity, intent["object_key"])


def test_storage_refuses_a_body_shorter_than_the_signed_length(
    api: Api, identity: Identity
) -> None:
    """The signed Content-Length header, with fewer bytes behind it (a raw socket: no HTTP
    client would send this): storage sees the body end early and stores nothing."""
    intent = presign(api, size_bytes=100)
    status = raw_put(intent["upload"]["url"], intent["upload"]["headers"], b"x" * 99)
    assert status >= 400
    assert not exists(identity, intent["object_key"])


def test_storage_checks_the_signed_sha256(api: Api, identity: Identity) -> None:
    body = b"checked bytes"
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    intent = presign(api, size_bytes=len(body), checksum_sha256=wrong)
    assert intent["upload"]["headers"]["x-amz-checksum-sha256"] == wrong
    answer = put(intent["upload"], body)
    assert answer.status_code == 400 and storage_code(answer) == "XAmzContentChecksumMismatch"
    assert not exists(identity, intent["object_key"])

    # Hex (as sha256sum prints it) is accepted too, and signed as base64.
    right = hashlib.sha256(body).hexdigest()
    intent = presign(api, size_bytes=len(body), checksum_sha256=right)
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert intent["upload"]["headers"]["x-amz-checksum-sha256"] == expected
    assert put(intent["upload"], body).status_code == 200


def test_a_second_put_on_the_same_url_is_refused(api: Api, identity: Identity) -> None:
    intent = presign(api, size_bytes=5)
    assert put(intent["upload"], b"first").status_code == 200
    again = put(intent["upload"], b"other")
    assert again.status_code == 412 and storage_code(again) == "PreconditionFailed"
    assert identity.root.get_object(identity.bucket, staged(intent)).read() == b"first"
    api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    stored = identity.root.get_object(identity.bucket, intent["object_key"])
    assert stored.read() == b"first"


def test_an_expired_url_is_refused(identity: Identity, settings: Settings) -> None:
    signed_at = datetime.now(UTC) - timedelta(hours=2)
    url = presign_url(
        method="PUT",
        endpoint=settings.public_endpoint,
        bucket=settings.bucket,
        key="uploads/expired.txt",
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        region=settings.region,
        expires=900,
        now=signed_at,
        headers={"Content-Type": "text/plain", "Content-Length": "5", "If-None-Match": "*"},
    )
    answer = requests.put(
        url,
        data=b"hello",
        headers={"Content-Type": "text/plain", "If-None-Match": "*"},
        timeout=30,
    )
    assert answer.status_code == 403
    assert "expired" in answer.text.lower()
    assert not exists(identity, "uploads/expired.txt")


def test_presigned_post_lets_storage_enforce_size_and_type(api: Api, identity: Identity) -> None:
    intent = api.ok("/v1/uploads/presign-post", {"content_type": "text/plain", "profile": "small"})
    upload = intent["upload"]
    assert intent["strategy"] == "post" and upload["method"] == "POST"
    policy = base64.b64decode(upload["fields"]["policy"]).decode()
    assert '["content-length-range", 1, 1024]' in policy

    def send(body: bytes, **fields: str) -> requests.Response:
        form = {**upload["fields"], **fields}
        return requests.post(
            upload["url"],
            data=form,
            files={"file": ("f.txt", io.BytesIO(body), "text/plain")},
            timeout=30,
        )

    too_big = send(b"z" * 1025)
    assert too_big.status_code == 400 and storage_code(too_big) == "EntityTooLarge"
    other_type = send(b"z" * 10, **{"Content-Type": "image/png"})
    assert other_type.status_code == 403
    assert not exists(identity, intent["object_key"])

    assert send(b"z" * 1024).status_code == 204
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    assert done["size_bytes"] == 1024 and done["content_type"] == "text/plain"


def test_presigned_post_with_a_declared_size_allows_no_more(api: Api) -> None:
    intent = api.ok("/v1/uploads/presign-post", {"content_type": "text/plain", "size_bytes": 10})
    policy = base64.b64decode(intent["upload"]["fields"]["policy"]).decode()
    assert '["content-length-range", 1, 10]' in policy


def test_complete_deletes_an_object_larger_than_declared(api: Api, identity: Identity) -> None:
    """Someone bypassed the URL (here: root) and stored more than was declared."""
    intent = presign(api, size_bytes=10)
    plant(identity, intent, b"y" * 20, "text/plain")
    answer = api.post(COMPLETE, {"intent_token": intent["intent_token"]})
    body = assert_error(answer, 413, "size_too_large")
    assert "20 bytes" in body["message"] and "deleted" in body["hint"]
    assert not exists(identity, staged(intent))
    assert not exists(identity, intent["object_key"])


def test_complete_deletes_an_object_of_another_type(api: Api, identity: Identity) -> None:
    intent = presign(api, size_bytes=4)
    plant(identity, intent, b"\x89PNG", "image/png")
    body = assert_error(
        api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 415, "mime_not_allowed"
    )
    assert "image/png" in body["message"]
    assert not exists(identity, staged(intent))
    assert not exists(identity, intent["object_key"])


def test_complete_deletes_a_single_upload_smaller_than_declared(
    api: Api, identity: Identity
) -> None:
    intent = presign(api, size_bytes=10)
    plant(identity, intent, b"y" * 3, "text/plain")
    assert_error(api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 400, "bad_request")
    assert not exists(identity, staged(intent))
    assert not exists(identity, intent["object_key"])


def test_complete_finishes_an_upload_already_at_its_key(api: Api, identity: Identity) -> None:
    """Nothing staged, and the intent's own object at its key: an earlier complete promoted
    it and stopped before writing its record. Complete judges it there and finishes."""
    intent = presign(api, size_bytes=4)
    plant(identity, intent, b"kept", "text/plain", key=intent["object_key"])
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    assert done["size_bytes"] == 4
    assert requests.get(done["get_url"], timeout=30).content == b"kept"

    wrong = presign(api, size_bytes=4)
    plant(identity, wrong, b"too long", "text/plain", key=wrong["object_key"])
    assert_error(api.post(COMPLETE, {"intent_token": wrong["intent_token"]}), 413, "size_too_large")
    assert not exists(identity, wrong["object_key"])


def test_complete_never_judges_another_intents_object(api: Api, identity: Identity) -> None:
    """Two intents with the same key_base share a key: the second can neither overwrite the
    first's object (If-None-Match) nor get it deleted or claimed by completing."""
    fields = {"profile": "listing", "content_type": "video/quicktime", "key_base": "01HSHARED"}
    first = presign(api, size_bytes=4, **fields)
    assert put(first["upload"], b"mine").status_code == 200
    api.ok(COMPLETE, {"intent_token": first["intent_token"]})

    second = presign(api, size_bytes=9, **fields)
    assert second["object_key"] == first["object_key"]
    # Its bytes reach only its own staging key; complete's promotion refuses to overwrite.
    assert put(second["upload"], b"overwrite").status_code == 200
    error = assert_error(
        api.post(COMPLETE, {"intent_token": second["intent_token"]}), 409, "conflict"
    )
    assert "key_base" in error["hint"]
    assert not exists(identity, staged(second))
    api.ok("/v1/uploads/abort", {"intent_token": second["intent_token"]})
    assert identity.root.get_object(identity.bucket, first["object_key"]).read() == b"mine"


def test_complete_before_upload_is_not_found(api: Api) -> None:
    intent = presign(api, size_bytes=10)
    body = assert_error(
        api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 404, "not_found"
    )
    assert "upload" in body["hint"]


def test_an_intent_completes_once(api: Api, identity: Identity) -> None:
    intent = presign(api, size_bytes=2)
    assert put(intent["upload"], b"ok").status_code == 200
    api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    # Remembered in storage, not in the signer's memory: the marker object is there.
    jti_marker = [
        o.object_name
        for o in identity.root.list_objects(
            identity.bucket, ".minio-stack/intents/", recursive=True
        )
    ]
    assert jti_marker
    assert_error(api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 409, "conflict")
    assert_error(
        api.post("/v1/uploads/abort", {"intent_token": intent["intent_token"]}), 409, "conflict"
    )


def test_abort_of_a_single_upload_deletes_it_and_retires_the_intent(
    api: Api, identity: Identity
) -> None:
    intent = presign(api, size_bytes=2)
    assert put(intent["upload"], b"ok").status_code == 200
    assert exists(identity, staged(intent))
    aborted = api.ok("/v1/uploads/abort", {"intent_token": intent["intent_token"]})
    assert aborted == {"object_key": intent["object_key"], "aborted": True}
    assert not exists(identity, staged(intent))
    assert not exists(identity, intent["object_key"])
    body = assert_error(
        api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 409, "conflict"
    )
    assert "aborted" in body["message"]


def _part_size_body(size: int) -> bytes:
    return (b"0123456789abcdef" * (size // 16 + 1))[:size]


def test_multipart_upload_with_lazily_signed_parts(api: Api, identity: Identity) -> None:
    size = 5 * MiB + 1000
    body = _part_size_body(size)
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=size, multipart="force"
    )
    upload = intent["upload"]
    assert intent["strategy"] == "multipart"
    assert (upload["part_size"], upload["part_count"]) == (5 * MiB, 2)
    assert [p["part_number"] for p in upload["parts"]] == [1, 2]
    assert [p["headers"]["Content-Length"] for p in upload["parts"]] == [str(5 * MiB), "1000"]
    query = parse_qs(urlsplit(upload["parts"][1]["url"]).query)
    assert query["partNumber"] == ["2"] and query["uploadId"] == [upload["upload_id"]]

    first = upload["parts"][0]
    sent = requests.put(first["url"], data=body[: 5 * MiB], headers=first["headers"], timeout=60)
    assert sent.status_code == 200
    # Part 2 signed again through /parts (as for a URL that expired).
    again = api.ok(
        "/v1/uploads/parts", {"intent_token": intent["intent_token"], "part_numbers": [2]}
    )
    second = again["parts"][0]
    wrong = requests.put(
        second["url"], data=body[5 * MiB :] + b"!", headers={"Content-Length": "1001"}, timeout=30
    )
    assert wrong.status_code == 403
    sent2 = requests.put(second["url"], data=body[5 * MiB :], headers=second["headers"], timeout=30)
    assert sent2.status_code == 200

    parts = [
        {"part_number": 1, "etag": sent.headers["ETag"]},
        {"part_number": 2, "etag": sent2.headers["ETag"]},
    ]
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"], "parts": parts})
    assert done["size_bytes"] == size
    assert requests.get(done["get_url"], timeout=60).content == body
    assert_error(
        api.post(COMPLETE, {"intent_token": intent["intent_token"], "parts": parts}),
        409,
        "conflict",
    )


def test_multipart_complete_without_parts_lists_them(api: Api, identity: Identity) -> None:
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=100, multipart="force"
    )
    part = intent["upload"]["parts"][0]
    assert (
        requests.put(part["url"], data=b"p" * 100, headers=part["headers"], timeout=30).status_code
        == 200
    )
    done = api.ok(COMPLETE, {"intent_token": intent["intent_token"]})
    assert done["size_bytes"] == 100


def test_multipart_abort_removes_the_upload(api: Api, identity: Identity) -> None:
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=100, multipart="force"
    )
    upload_id = intent["upload"]["upload_id"]
    api.ok("/v1/uploads/abort", {"intent_token": intent["intent_token"]})
    part = intent["upload"]["parts"][0]
    gone = requests.put(part["url"], data=b"p" * 100, headers=part["headers"], timeout=30)
    assert gone.status_code == 404 and storage_code(gone) == "NoSuchUpload"
    assert upload_id
    assert_error(api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 409, "conflict")


def test_multipart_complete_of_a_vanished_upload_is_not_found(
    api: Api, identity: Identity, settings: Settings
) -> None:
    intent = presign(
        api, content_type="application/octet-stream", size_bytes=100, multipart="force"
    )
    # Aborted behind the signer's back (as MinIO's stale-upload cleanup would).
    Storage.from_settings(settings).abort_multipart(
        intent["object_key"], intent["upload"]["upload_id"]
    )
    body = assert_error(
        api.post(COMPLETE, {"intent_token": intent["intent_token"]}), 404, "not_found"
    )
    assert "new upload" in body["hint"]


def test_presign_returns_at_most_the_first_parts(api: Api, signer) -> None:
    from tests.signer.conftest import SESSION_INITIAL_PARTS

    intent = presign(api, content_type="application/octet-stream", size_bytes=60 * MiB)
    upload = intent["upload"]
    assert upload["part_count"] == 12
    assert len(upload["parts"]) == SESSION_INITIAL_PARTS
    more = api.ok(
        "/v1/uploads/parts", {"intent_token": intent["intent_token"], "part_numbers": [9, 12]}
    )
    assert [p["part_number"] for p in more["parts"]] == [9, 12]
    assert more["parts"][1]["headers"]["Content-Length"] == str(5 * MiB)
    for numbers in ([13], [0], [1, 1]):
        assert_error(
            api.post(
                "/v1/uploads/parts",
                {"intent_token": intent["intent_token"], "part_numbers": numbers},
            ),
            400,
            "bad_request",
        )
    api.ok("/v1/uploads/abort", {"intent_token": intent["intent_token"]})


@pytest.mark.parametrize(
    "fields",
    [
        {"key_base": "../../etc"},
        {"key_base": "a/b"},
        {"key_base": "x\x00y"},
        {"key_base": "ünïcode"},
        {"key_base": ".."},
        {"ext": "../txt"},
        {"ext": "t/xt"},
        {"ext": "txt\n"},
        {"filename": "../../../etc/passwd"},
        {"filename": "a/../../b.txt"},
        {"filename": "evil\r\nX-Injected: 1.txt"},
        {"filename": "\u202egpj.exe"},
        {"filename": "日本語のファイル.txt"},
        {"profile": "listing", "content_type": "video/quicktime", "key_base": "../../x"},
        {"profile": "listing", "content_type": "video/quicktime", "key_base": "01HZX"},
    ],
)
def test_keys_never_leave_the_profile_prefix(api: Api, fields: dict) -> None:
    answer = api.post(PRESIGN, {"content_type": "text/plain", "size_bytes": 1, **fields})
    if answer.status_code != 200:
        assert_error(answer, 400, "bad_request")
        return
    key = answer.json()["object_key"]
    prefix = "listings/" if fields.get("profile") == "listing" else "uploads/"
    assert key.startswith(prefix)
    segments = key.split("/")
    assert ".." not in segments and "" not in segments
    assert all(ch.isascii() and ch.isprintable() for ch in key)
    assert "passwd" not in key and "etc" not in key


@pytest.mark.parametrize("abort_before", ["promote", "complete_multipart", "record_intent"])
def test_an_abort_during_complete_leaves_no_object(
    api: Api, identity: Identity, settings: Settings, abort_before: str
) -> None:
    """Abort records first, then removes what the intent wrote; a complete that ran
    meanwhile finds the intent aborted and removes what it promoted. Whichever step the
    abort lands before, both answers agree and no object is left."""
    intent = presign(api, size_bytes=4)
    assert put(intent["upload"], b"race").status_code == 200
    token = intent["intent_token"]
    aborted: list[AbortResponse] = []

    class AbortsMeanwhile(Storage):
        def promote(self, *args: Any, **kwargs: Any) -> str | None:
            self._abort("promote")
            return super().promote(*args, **kwargs)

        def complete_multipart(self, *args: Any, **kwargs: Any) -> str | None:
            self._abort("complete_multipart")  # the copy is done, the object not yet there
            return super().complete_multipart(*args, **kwargs)

        def record_intent(self, jti: str, state: str, record: Mapping[str, object]) -> bool:
            if state == "completed":
                self._abort("record_intent")
            return super().record_intent(jti, state, record)

        def _abort(self, step: str) -> None:
            if step == abort_before and not aborted:
                plain = SignerService(settings, Storage.from_settings(settings))
                aborted.append(abort_upload(plain, AbortRequest(intent_token=token), "other"))

    racing = SignerService(settings, AbortsMeanwhile.from_settings(settings))
    with pytest.raises(SignerError) as caught:
        complete_upload(racing, CompleteRequest(intent_token=token), "t")
    assert caught.value.code is ErrorCode.CONFLICT and "aborted" in caught.value.message
    assert aborted and aborted[0].aborted
    assert not exists(identity, intent["object_key"])
    assert not exists(identity, staged(intent))
