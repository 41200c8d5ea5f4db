"""The Uppy routes and browser tokens over HTTP, against the session's real signer and MinIO:
what Uppy's S3 plugin calls (its Companion protocol), every error with its status and exact
body shape, and what a page holding a browser token can and cannot do with it.

The requests are the ones ``@uppy/aws-s3`` 6.x sends (``src/s3-client/CompanionS3.ts``):
the token in the endpoint's path, ``uploadId`` and ``key`` echoed back, bodies as it writes
them. The bytes go to MinIO as a browser sends them: a POST form, and part PUTs with no
header but the Content-Length any HTTP client sends.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import uvicorn
from starlette.testclient import TestClient

from common.s3vocab import INTENTS_PREFIX
from harness.minio_server import free_port
from signer.app import create_app
from signer.browser_tokens import MAX_TTL
from signer.openapi import build_openapi
from signer.routes import API
from signer.settings import Settings, load
from signer.uppy import REDACTED, ROUTES
from tests.signer.conftest import (
    API_TOKEN,
    TOKEN_SECRET,
    Api,
    Identity,
    RunningSigner,
    assert_error,
    environment,
)

MiB = 1024 * 1024
MINT = "/v1/browser-tokens"
PAGE = "https://app.example.com"


@dataclass
class Uppy:
    """What ``@uppy/aws-s3``'s Companion client sends to its endpoint, as raw requests; through
    ``requests`` to a running signer, or through a TestClient (``http``)."""

    base: str  # the signer's URL
    token: str
    origin: str | None = None
    http: TestClient | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.base}/uppy/{self.token}"

    def _send(
        self, method: str, path: str, params: dict[str, str], body: Any = None
    ) -> requests.Response:
        headers = {"Origin": self.origin} if self.origin else {}
        data = None
        if body is not None:
            headers["content-type"] = "application/json"
            data = json.dumps(body)
        url = self.endpoint + path
        if self.http is not None:
            answer: Any = self.http.request(
                method, url, params=params, content=data, headers=headers
            )
            return answer
        return requests.request(method, url, params=params, data=data, headers=headers, timeout=30)

    def params(self, filename: str, mime: str) -> requests.Response:
        query = {"filename": filename, "type": mime, "metadata[name]": filename}
        return self._send("GET", "/s3/params", query)

    def create(self, filename: str, mime: str) -> requests.Response:
        body = {"filename": filename, "type": mime, "metadata": {"name": filename}}
        return self._send("POST", "/s3/multipart", {}, body)

    def part(self, upload_id: str, number: int | str, key: str) -> requests.Response:
        return self._send("GET", f"/s3/multipart/{upload_id}/{number}", {"key": key})

    def list(self, upload_id: str, key: str) -> requests.Response:
        return self._send("GET", f"/s3/multipart/{upload_id}", {"key": key})

    def complete(self, upload_id: str, key: str, parts: list[dict[str, Any]]) -> requests.Response:
        path = f"/s3/multipart/{upload_id}/complete"
        return self._send("POST", path, {"key": key}, {"parts": parts})

    def abort(self, upload_id: str, key: str) -> requests.Response:
        return self._send("DELETE", f"/s3/multipart/{upload_id}", {"key": key})


def mint(api: Api, **body: Any) -> dict[str, Any]:
    return api.ok(MINT, body)


def uppy(api: Api, signer: RunningSigner, **body: Any) -> Uppy:
    grant = mint(api, **body)
    return Uppy(signer.url, grant["token"], origin=body.get("origin"))


def put_part(uppy: Uppy, upload_id: str, key: str, number: int, data: bytes) -> str:
    answer = uppy.part(upload_id, number, key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["headers"] == {}
    stored = requests.put(answer.json()["url"], data=data, timeout=60)
    assert stored.status_code == 200, stored.text
    return stored.headers["ETag"].strip('"')


def multipart(uppy: Uppy, sizes: list[int], mime: str = "application/octet-stream") -> dict:
    """Create an upload and PUT parts of ``sizes``; the key, uploadId, parts and bytes."""
    created = uppy.create("big.bin", mime)
    assert created.status_code == 200, created.text
    key, upload_id = created.json()["key"], created.json()["uploadId"]
    chunks = [os.urandom(size) for size in sizes]
    parts = [
        {"PartNumber": n, "ETag": put_part(uppy, upload_id, key, n, chunk)}
        for n, chunk in enumerate(chunks, start=1)
    ]
    return {"key": key, "upload_id": upload_id, "parts": parts, "data": b"".join(chunks)}


# --- minting ---------------------------------------------------------------------------------


def test_a_backend_mints_a_browser_token_scoped_to_a_profile(api: Api) -> None:
    grant = mint(
        api, profile="listing", size_max=10 * MiB, count=3, origin="HTTPS://App.Example.com:443"
    )
    assert set(grant) == {
        "token",
        "token_id",
        "expires_at",
        "profile",
        "size_max",
        "count",
        "origin",
        "uppy_endpoint_path",
        "multipart_threshold",
        "restrictions",
    }
    assert (grant["profile"], grant["size_max"], grant["count"]) == ("listing", 10 * MiB, 3)
    assert grant["origin"] == PAGE  # normalised as browsers send it
    assert grant["uppy_endpoint_path"] == f"/uppy/{grant['token']}"
    assert grant["restrictions"] == {
        "allowedFileTypes": ["image/jpeg", "video/quicktime"],
        "maxFileSize": 10 * MiB,
        "maxNumberOfFiles": 3,
    }
    assert grant["multipart_threshold"] == 15 * MiB
    lifetime = datetime.fromisoformat(grant["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15)


def test_defaults_are_the_default_profile_one_upload_and_fifteen_minutes(api: Api) -> None:
    grant = mint(api)
    assert (grant["profile"], grant["size_max"], grant["count"]) == ("default", 100 * MiB, 1)
    assert "origin" not in grant  # answers leave out what is unset
    long = mint(api, ttl_seconds=10 * 86400)
    lifetime = datetime.fromisoformat(long["expires_at"]) - datetime.now(UTC)
    assert lifetime <= timedelta(seconds=MAX_TTL)


@pytest.mark.parametrize(
    "body, status, code, words",
    [
        ({"profile": "nope"}, 400, "bad_request", "nope"),
        ({"size_max": 101 * MiB}, 413, "size_too_large", "profile 'default'"),
        ({"count": 0}, 400, "bad_request", "count"),
        ({"count": 1001}, 400, "bad_request", "count"),
        ({"ttl_seconds": 0}, 400, "bad_request", "ttl_seconds"),
        ({"origin": "https://app.example.com/page"}, 400, "bad_request", "origin"),
        ({"origin": "*"}, 400, "bad_request", "origin"),
        ({"scope": "downloads"}, 400, "bad_request", "scope"),
    ],
)
def test_minting_refuses_what_the_policy_does_not_allow(
    api: Api, body: dict, status: int, code: str, words: str
) -> None:
    error = assert_error(api.post(MINT, body), status, code)
    assert words in error["message"]


def test_minting_needs_an_api_token_so_a_browser_token_cannot_mint_more(
    api: Api, signer: RunningSigner
) -> None:
    assert_error(Api(signer.url, token=None).post(MINT, {}), 401, "unauthorized")
    browser_token = mint(api, count=1000)["token"]
    error = assert_error(Api(signer.url, token=browser_token).post(MINT, {}), 401, "unauthorized")
    assert "browser token" in error["hint"]


@pytest.mark.parametrize("route", [r.path for r in API])
def test_a_browser_token_opens_no_v1_route(api: Api, signer: RunningSigner, route: str) -> None:
    browser = Api(signer.url, token=mint(api)["token"])
    # A valid body for each route, so only the token can be what is refused.
    intent = api.ok("/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": 5})
    bodies = {
        "/v1/uploads/presign": {"content_type": "text/plain", "size_bytes": 5},
        "/v1/uploads/presign-post": {"content_type": "text/plain"},
        "/v1/uploads/parts": {"intent_token": intent["intent_token"], "part_numbers": [1]},
        "/v1/uploads/complete": {"intent_token": intent["intent_token"]},
        "/v1/uploads/abort": {"intent_token": intent["intent_token"]},
        "/v1/downloads/presign": {"object_key": intent["object_key"]},
    }
    # A route added later is tried with an empty body: were the token taken, that is a 400.
    error = assert_error(browser.post(route, bodies.get(route, {})), 401, "unauthorized")
    assert "only on the Uppy routes" in error["hint"]


# --- starting uploads -------------------------------------------------------------------------


def test_a_single_form_upload_is_refused_with_the_setting_that_avoids_it(
    api: Api, signer: RunningSigner, identity: Identity
) -> None:
    grant = mint(api)
    page = Uppy(signer.url, grant["token"])
    error = assert_error(page.params("cat.png", "image/png"), 400, "bad_request")
    assert "shouldUseMultipart: true" in error["hint"]
    # Nothing was started: the token's one upload is still there.
    assert page.create("cat.png", "image/png").status_code == 200
    # An invalid token is refused as such first.
    assert_error(Uppy(signer.url, "a.b.c").params("cat.png", "image/png"), 401, "unauthorized")


def test_a_small_file_is_one_put_of_a_one_part_upload(
    api: Api, signer: RunningSigner, identity: Identity
) -> None:
    page = uppy(api, signer, profile="listing", size_max=1024)
    data = b"\xff\xd8\xff\xe0" + os.urandom(700)
    created = page.create("../../etc/passwd.jpg", "image/jpeg")
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"key", "uploadId"}
    key, upload_id = created.json()["key"], created.json()["uploadId"]
    assert key.startswith("listings/") and key.endswith(".jpg") and "passwd" not in key
    assert upload_id.count(".") == 2  # the intent token, echoed back by Uppy
    etag = put_part(page, upload_id, key, 1, data)
    done = page.complete(upload_id, key, [{"PartNumber": 1, "ETag": etag}])
    assert done.status_code == 200, done.text
    stored = identity.root.get_object(identity.bucket, key)
    assert stored.read() == data
    assert stored.headers["Content-Type"] == "image/jpeg"  # set by the signer at create


def test_a_type_outside_the_profile_is_refused_before_any_upload_is_counted(
    api: Api, signer: RunningSigner
) -> None:
    page = uppy(api, signer, count=1)
    error = assert_error(page.create("page.html", "text/html"), 415, "mime_not_allowed")
    assert "text/html" in error["message"] and "image/png" in error["hint"]
    assert page.create("notes.txt", "text/plain").status_code == 200  # the one upload is left


def test_a_token_starts_at_most_count_uploads(
    api: Api, signer: RunningSigner, identity: Identity
) -> None:
    grant = mint(api, count=3)
    page = Uppy(signer.url, grant["token"])
    for name in ("a.bin", "b.bin", "c.bin"):
        assert page.create(name, "application/octet-stream").status_code == 200
    error = assert_error(page.create("d.bin", "application/octet-stream"), 409, "conflict")
    assert "3 uploads" in error["message"] and "higher count" in error["hint"]
    markers = identity.root.list_objects(
        identity.bucket, prefix=f"{INTENTS_PREFIX}{grant['token_id']}.", recursive=True
    )
    assert sorted(m.object_name.rsplit(".", 1)[1] for m in markers) == ["1", "2", "3"]


def test_count_holds_when_pages_race_for_the_last_upload(api: Api, signer: RunningSigner) -> None:
    page = Uppy(signer.url, mint(api, count=2)["token"])
    results: list[int] = []

    def start() -> None:
        results.append(page.create("a.bin", "application/octet-stream").status_code)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200, 409, 409, 409, 409]


def test_an_upload_may_hold_only_the_token_size(api: Api, signer: RunningSigner) -> None:
    # The profile allows 100 MiB; the token 1 KiB: the token's limit is the one held.
    page = uppy(api, signer, size_max=1024)
    created = page.create("big.bin", "application/octet-stream").json()
    key, upload_id = created["key"], created["uploadId"]
    etag = put_part(page, upload_id, key, 1, os.urandom(1025))
    error = assert_error(
        page.complete(upload_id, key, [{"PartNumber": 1, "ETag": etag}]), 413, "size_too_large"
    )
    assert "at most 1024" in error["message"]


# --- a multipart upload -------------------------------------------------------------------------


def test_a_multipart_upload_end_to_end_is_checked_and_single_use(
    api: Api, signer: RunningSigner, identity: Identity
) -> None:
    page = uppy(api, signer, size_max=20 * MiB)
    upload = multipart(page, [5 * MiB, 5 * MiB, 1234])
    listed = page.list(upload["upload_id"], upload["key"])
    assert listed.status_code == 200
    assert [(p["PartNumber"], p["ETag"]) for p in listed.json()] == [
        (p["PartNumber"], p["ETag"]) for p in upload["parts"]
    ]
    assert [p["Size"] for p in listed.json()] == [5 * MiB, 5 * MiB, 1234]

    done = page.complete(upload["upload_id"], upload["key"], upload["parts"])
    assert done.status_code == 200, done.text
    assert set(done.json()) == {"location", "key", "bucket"}
    assert done.json()["key"] == upload["key"]
    assert done.json()["location"].endswith(f"/{identity.bucket}/{upload['key']}")
    # The location is not a download: storage stays private.
    assert requests.get(done.json()["location"], timeout=30).status_code == 403
    stored = identity.root.get_object(identity.bucket, upload["key"])
    assert stored.read() == upload["data"]
    assert stored.headers["Content-Type"] == "application/octet-stream"

    again = page.complete(upload["upload_id"], upload["key"], upload["parts"])
    assert "already completed" in assert_error(again, 409, "conflict")["message"]


def test_parts_are_signed_in_order_and_within_the_size(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer, size_max=12 * MiB)
    created = page.create("big.bin", "application/octet-stream").json()
    key, upload_id = created["key"], created["uploadId"]
    error = assert_error(page.part(upload_id, 2, key), 400, "bad_request")
    assert "part 1 is not in storage yet" in error["message"]
    assert_error(page.part(upload_id, 0, key), 400, "bad_request")
    # 12 MiB in parts of at least 5 MiB is at most 3 parts.
    assert (
        "outside 1..3" in assert_error(page.part(upload_id, 4, key), 400, "bad_request")["message"]
    )
    assert_error(page.part(upload_id, "x", key), 404, "not_found")


def test_parts_over_the_size_abort_the_upload(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer, size_max=11 * MiB)
    created = page.create("big.bin", "application/octet-stream").json()
    key, upload_id = created["key"], created["uploadId"]
    put_part(page, upload_id, key, 1, os.urandom(5 * MiB))
    # Part 2's URL carries no length, so a page can send more than it may ...
    put_part(page, upload_id, key, 2, os.urandom(7 * MiB))
    # ... and the next call finds it out and aborts the upload: its parts leave storage.
    error = assert_error(page.part(upload_id, 3, key), 413, "size_too_large")
    assert "12582912 bytes" in error["message"] and "aborted" in error["hint"]
    assert_error(page.list(upload_id, key), 404, "not_found")


def test_complete_holds_the_parts_to_the_size_and_aborts_over_it(
    api: Api, signer: RunningSigner, identity: Identity
) -> None:
    page = uppy(api, signer, size_max=8 * MiB)
    upload = multipart(page, [5 * MiB, 3 * MiB + 1])
    error = assert_error(
        page.complete(upload["upload_id"], upload["key"], upload["parts"]), 413, "size_too_large"
    )
    assert "at most 8388608" in error["message"]
    assert_error(page.list(upload["upload_id"], upload["key"]), 404, "not_found")
    names = [o.object_name for o in identity.root.list_objects(identity.bucket, recursive=True)]
    assert upload["key"] not in names


def test_complete_accepts_only_parts_storage_holds(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer)
    upload = multipart(page, [5 * MiB, 10])
    wrong = [upload["parts"][0], {"PartNumber": 2, "ETag": "0" * 32}]
    error = assert_error(
        page.complete(upload["upload_id"], upload["key"], wrong), 400, "bad_request"
    )
    assert "part 2 is not in storage" in error["message"]
    missing = [*upload["parts"], {"PartNumber": 3, "ETag": "0" * 32}]
    assert_error(page.complete(upload["upload_id"], upload["key"], missing), 400, "bad_request")
    unordered = list(reversed(upload["parts"]))
    assert_error(page.complete(upload["upload_id"], upload["key"], unordered), 400, "bad_request")
    # Nothing was spent: the right list still completes.
    assert page.complete(upload["upload_id"], upload["key"], upload["parts"]).status_code == 200


def test_abort_removes_the_parts_and_retires_the_upload(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer)
    upload = multipart(page, [10])
    answer = page.abort(upload["upload_id"], upload["key"])
    assert (answer.status_code, answer.json()) == (200, {})
    assert_error(page.list(upload["upload_id"], upload["key"]), 404, "not_found")
    done = page.complete(upload["upload_id"], upload["key"], upload["parts"])
    assert "already aborted" in assert_error(done, 409, "conflict")["message"]
    assert_error(page.abort(upload["upload_id"], upload["key"]), 409, "conflict")


def test_an_upload_is_bound_to_its_key_and_its_browser_token(
    api: Api, signer: RunningSigner
) -> None:
    page = uppy(api, signer, count=2)
    created = page.create("big.bin", "application/octet-stream").json()
    key, upload_id = created["key"], created["uploadId"]
    other = page.create("other.bin", "application/octet-stream").json()["key"]
    for call in (page.part, page.list, page.abort):
        args = (upload_id, 1, other) if call == page.part else (upload_id, other)
        assert "key is not" in assert_error(call(*args), 400, "bad_request")["message"]
    # Another browser token (another user's page) cannot touch this upload.
    stranger = uppy(api, signer)
    for answer in (
        stranger.part(upload_id, 1, key),
        stranger.list(upload_id, key),
        stranger.complete(upload_id, key, [{"PartNumber": 1, "ETag": "x"}]),
        stranger.abort(upload_id, key),
    ):
        assert "another browser token" in assert_error(answer, 403, "signature_invalid")["message"]
    # Nor can a /v1 intent (an API token's upload) be driven through the Uppy routes.
    v1 = api.ok(
        "/v1/uploads/presign",
        {"content_type": "application/octet-stream", "size_bytes": 10, "multipart": "force"},
    )
    assert_error(page.part(v1["intent_token"], 1, v1["object_key"]), 403, "signature_invalid")
    assert_error(page.part("a.b.c", 1, key), 403, "signature_invalid")


def test_a_profile_needing_headers_on_every_part_is_refused(identity: Identity, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "profiles:\n  default:\n    mime_types: {application/octet-stream: bin}\n"
        "    size_max: 1MiB\n    required_headers:\n"
        "      x-amz-server-side-encryption-customer-algorithm: AES256\n"
    )
    with TestClient(create_app(load(environment(identity, policy)))) as client:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        token = client.post(MINT, json={}, headers=auth).json()["token"]
        page = Uppy("http://testserver", token, http=client)
        error = assert_error(page.create("a.bin", "application/octet-stream"), 400, "bad_request")
    assert "which Uppy cannot send" in error["message"] and "/v1" in error["hint"]


# --- the browser token ---------------------------------------------------------------------------


def error_headers(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code >= 400
    return dict(answer.headers)


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["count"], claims["size_max"] = 1000, 10**12
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_tampered_foreign_or_wrong_kind_of_token_is_unauthorized(
    api: Api, signer: RunningSigner, identity: Identity, policy_file
) -> None:
    token = mint(api)["token"]
    intent = api.ok("/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": 5})
    other_key = load(environment(identity, policy_file, SIGNER_TOKEN_SECRETS="b" * 64))
    foreign = TestClient(create_app(other_key)).post(
        MINT, json={}, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    for bad, words in (
        (tampered(token), "signature does not match"),
        (foreign.json()["token"], "unknown key id"),
        (intent["intent_token"], "wrong audience"),
        (API_TOKEN, "malformed"),
    ):
        for answer in (
            Uppy(signer.url, bad).params("a.txt", "text/plain"),
            Uppy(signer.url, bad).create("a.txt", "text/plain"),
            Uppy(signer.url, bad).list("a.b.c", "k"),
        ):
            error = assert_error(answer, 401, "unauthorized")
            assert (
                error["message"].startswith("browser token rejected") and words in error["message"]
            )
            assert token not in answer.text


def test_a_browser_token_for_another_bucket_is_unauthorized(
    api: Api, signer: RunningSigner, identity: Identity, policy_file
) -> None:
    elsewhere = load(environment(identity, policy_file, MINIO_BUCKET="another-bucket"))
    with TestClient(create_app(elsewhere)) as client:
        token = client.post(MINT, json={}, headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
    error = assert_error(
        Uppy(signer.url, token["token"]).params("a.txt", "text/plain"), 401, "unauthorized"
    )
    assert "another bucket" in error["message"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_an_expired_token_starts_nothing_but_its_uploads_may_finish(settings: Settings) -> None:
    clock = Clock()
    with TestClient(create_app(settings, clock=clock)) as client:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        grant = client.post(MINT, json={"ttl_seconds": 60, "count": 3}, headers=auth).json()
        page = Uppy("http://testserver", grant["token"], http=client)
        created = page.create("big.bin", "application/octet-stream").json()
        clock.now += timedelta(seconds=61)
        for answer in (page.params("a.txt", "text/plain"), page.create("b.bin", "text/plain")):
            error = assert_error(answer, 401, "unauthorized")
            assert "expired at" in error["message"] and "may still finish" in error["hint"]
        # The upload it started in time goes on, on its own intent token: after that token's
        # own expiry too (Uppy cannot renew the uploadId it holds), within the intent's window.
        clock.now += timedelta(minutes=20)
        part = page.part(created["uploadId"], 1, created["key"])
        assert part.status_code == 200, part.text
        assert page.list(created["uploadId"], created["key"]).status_code == 200
        clock.now += timedelta(hours=3)  # the test policy's ttl_max (2h) bounds the window
        late = assert_error(
            page.part(created["uploadId"], 1, created["key"]), 403, "signature_invalid"
        )
        assert "window ended" in late["message"]
        clock.now -= timedelta(hours=3)
        assert page.abort(created["uploadId"], created["key"]).status_code == 200


# --- origins and CORS -----------------------------------------------------------------------------


def test_a_token_minted_for_an_origin_answers_its_cors_and_refuses_others(
    api: Api, signer: RunningSigner
) -> None:
    page = uppy(api, signer, origin=PAGE, count=2)
    preflight = requests.options(
        f"{page.endpoint}/s3/multipart",
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"

    answer = page.create("a.txt", "text/plain")
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == PAGE
    # Refusals carry it too, so the page can read why.
    refused = page.create("a.html", "text/html")
    assert_error(refused, 415, "mime_not_allowed")
    assert refused.headers["Access-Control-Allow-Origin"] == PAGE

    evil = Uppy(signer.url, page.token, origin="https://evil.example")
    error = assert_error(evil.create("a.txt", "text/plain"), 401, "unauthorized")
    assert PAGE in error["message"]
    assert "Access-Control-Allow-Origin" not in error_headers(evil.create("a.txt", "text/plain"))
    foreign_preflight = requests.options(
        f"{page.endpoint}/s3/params",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert_error(foreign_preflight, 401, "unauthorized")
    assert "Access-Control-Allow-Origin" not in foreign_preflight.headers
    # The refused page started nothing: one of the two uploads is still there.
    assert page.create("b.txt", "text/plain").status_code == 200


def test_a_token_minted_without_an_origin_answers_no_cors(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer)
    preflight = requests.options(
        f"{page.endpoint}/s3/params",
        headers={"Origin": PAGE, "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert "origin" in assert_error(preflight, 401, "unauthorized")["hint"]
    answer = Uppy(signer.url, page.token, origin=PAGE).create("a.txt", "text/plain")
    assert answer.status_code == 200
    assert "Access-Control-Allow-Origin" not in answer.headers


# --- the protocol's edges -------------------------------------------------------------------------


def test_malformed_uppy_requests_are_bad_requests(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer, count=5)
    endpoint = f"{page.endpoint}/s3"
    cases = [
        (requests.post(f"{endpoint}/multipart", data="{", timeout=30), "not valid JSON"),
        (
            requests.post(f"{endpoint}/multipart", json={"filename": "a"}, timeout=30),
            "'type' is required",
        ),
        (
            requests.post(
                f"{endpoint}/multipart",
                json={"filename": "a", "type": "text/plain", "acl": "public-read"},
                timeout=30,
            ),
            "unknown field 'acl'",
        ),
        (requests.get(f"{endpoint}/multipart/a.b.c/1", timeout=30), "'key' is required"),
        (
            requests.post(
                f"{endpoint}/multipart/a.b.c/complete",
                params={"key": "k"},
                json={"parts": []},
                timeout=30,
            ),
            "parts",
        ),
    ]
    for answer, words in cases:
        error = assert_error(answer, 400, "bad_request")
        assert words in error["message"], error


def test_unknown_routes_and_methods_answer_the_error_shape_without_the_token(
    api: Api, signer: RunningSigner
) -> None:
    page = uppy(api, signer)
    missing = requests.get(f"{page.endpoint}/s3/nothing", timeout=30)
    error = assert_error(missing, 404, "not_found")
    assert f"/uppy/{REDACTED}/s3/nothing" in error["message"] and page.token not in missing.text
    wrong = requests.put(f"{page.endpoint}/s3/params", timeout=30)
    assert_error(wrong, 405, "bad_request")
    assert wrong.headers["Allow"] == "GET"
    assert_error(requests.get(f"{signer.url}/uppy", timeout=30), 404, "not_found")
    assert_error(requests.get(f"{signer.url}/uppy//s3/params", timeout=30), 404, "not_found")


def test_a_bug_answers_the_error_shape_and_logs_no_token(
    api: Api, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint(api)["token"]  # from the session's signer: the same keys

    def broken_clock() -> datetime:
        raise RuntimeError("secret internals")

    app = create_app(settings, clock=broken_clock)
    with (
        caplog.at_level(logging.ERROR, logger="signer"),
        TestClient(app, raise_server_exceptions=False) as client,
    ):
        answer = Uppy("http://testserver", token, http=client).create("a.bin", "text/plain")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal"
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/uppy/{REDACTED}/s3/multipart" in logged and token not in logged


def test_browser_requests_have_their_own_rate_limit_per_minting_token(
    identity: Identity, policy_file
) -> None:
    settings = load(environment(identity, policy_file, SIGNER_RATE_LIMIT="0.001,3"))
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        token = client.post(MINT, json={"count": 10}, headers=auth).json()["token"]
        page = Uppy("http://testserver", token, http=client)
        answers = [page.create("a.txt", "text/plain").status_code for _ in range(3)]
        assert answers == [200] * 3
        assert_error(page.create("a.txt", "text/plain"), 429, "rate_limited")
        # The backend's own bucket is apart: it has spent one request (minting) of three.
        presign = client.post(
            "/v1/uploads/presign",
            json={"content_type": "text/plain", "size_bytes": 1},
            headers=auth,
        )
        assert presign.status_code == 200


def test_metrics_count_the_uppy_routes(api: Api, signer: RunningSigner) -> None:
    page = uppy(api, signer)
    page.create("a.html", "text/html")
    metrics = requests.get(f"{signer.url}/metrics", timeout=10).text
    assert 'code="mime_not_allowed",route="uppy_create_multipart"' in metrics
    assert 'route="mint_browser_token"' in metrics


def test_openapi_documents_the_uppy_routes_and_minting() -> None:
    paths = build_openapi()["paths"]
    assert "post" in paths[MINT]
    documented = {
        (method.upper(), path, op["operationId"])
        for path, ops in paths.items()
        if path.startswith("/uppy/")
        for method, op in ops.items()
    }
    assert documented == {
        ("GET", "/uppy/{browser_token}/s3/params", "uppy_params"),
        ("POST", "/uppy/{browser_token}/s3/multipart", "uppy_create_multipart"),
        ("GET", "/uppy/{browser_token}/s3/multipart/{upload_id}/{part_number}", "uppy_sign_part"),
        ("GET", "/uppy/{browser_token}/s3/multipart/{upload_id}", "uppy_list_parts"),
        ("POST", "/uppy/{browser_token}/s3/multipart/{upload_id}/complete", "uppy_complete"),
        ("DELETE", "/uppy/{browser_token}/s3/multipart/{upload_id}", "uppy_abort"),
    }
    assert len(ROUTES) == 6


# --- no token in any log ------------------------------------------------------------------


@pytest.fixture
def logged_signer(settings: Settings) -> Iterator[tuple[str, list[str]]]:
    """A real uvicorn server with its access log on, every log line kept."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error", "signer")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=True
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", lines
    server.should_exit = True
    thread.join(15)
    for logger in loggers:
        logger.removeHandler(handler)


def test_no_token_reaches_the_access_log(logged_signer: tuple[str, list[str]]) -> None:
    url, lines = logged_signer
    grant = requests.post(
        url + MINT, json={"count": 2}, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
    ).json()
    page = Uppy(url, grant["token"])
    created = page.create("big.bin", "application/octet-stream").json()
    page.part(created["uploadId"], 1, created["key"])
    page.create("a.html", "text/html")
    requests.get(f"{page.endpoint}/s3/nothing", timeout=30)
    access = [line for line in lines if "/uppy/" in line]
    assert len(access) == 4, lines
    assert f'"GET /uppy/{REDACTED}/s3/multipart/{REDACTED}/1?key=' in "\n".join(access)
    for line in lines:
        assert grant["token"] not in line and created["uploadId"] not in line
        assert TOKEN_SECRET not in line
