"""The "Mediaflow — Presigned Uploads v1" contract, as a client that knows only the spec sees
it, against a real signer and real MinIO: its exact request body, its response fields, its
per-part route, its claims, its knobs (in a policy file written in its terms), its
validation and error codes; and what the kit adds on top (refresh, tenants, the internal
endpoint), each with what an attacker holding a valid token could do with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from starlette.testclient import TestClient

from signer.app import create_app
from signer.auth import fingerprint
from signer.service import SignerService
from signer.settings import Settings, load
from signer.storage import Storage, staging_key
from tests.signer.conftest import (
    API_TOKEN,
    OTHER_API_TOKEN,
    Api,
    Identity,
    RunningSigner,
    assert_error,
    environment,
)

MiB = 1024 * 1024
PRESIGN = "/v1/uploads/presign"
PART = "/v1/uploads/presign/part"
REFRESH = "/v1/uploads/refresh"
COMPLETE = "/v1/uploads/complete"
ABORT = "/v1/uploads/abort"
ULID = "01JD5Z8Q4V6W7X8Y9Z0A1B2C3D"
SSE = {"x-amz-server-side-encryption": "AES256"}

# A policy file in the spec's own words: its knobs at the top, applying to every profile.
SPEC_POLICY = """
multipart_threshold_mb: 15
part_size_mb: 5
token_ttl_seconds: 900
path_template_raw: "raw/{{shard?}}/{{key_base}}.{{ext}}"
enable_sharding: true
bucket: {bucket}
region: us-east-1
signing_alg: ES256
tenants:
  {api}: [acme]
default_profile: default
profiles:
  default:
    allowed_mimes: {{image: [image/png, image/jpeg], video: [video/mp4, video/quicktime]}}
    mime_types: {{text/plain: txt}}
    size_max: 200MiB
    required_headers: {{x-amz-server-side-encryption: AES256}}
  listing:
    allowed_mimes: {{image: [image/jpeg], video: [video/quicktime]}}
    size_max: 200MiB
    path_template_raw: "listing/{{shard?}}/{{key_base}}.{{ext}}"
    required_headers: {{x-amz-server-side-encryption: AES256}}
  dated:
    mime_types: {{text/plain: txt}}
    size_max: 1MiB
    key_template: "{{prefix}}/{{yyyy}}/{{mm}}/{{uuid}}{{ext}}"
    prefix: dated
  orgs:
    mime_types: {{text/plain: txt}}
    size_max: 1MiB
    key_template: "orgs/{{tenant}}/files/{{yyyy}}/{{mm}}/{{key_base}}{{ext}}"
"""


@pytest.fixture(scope="module")
def spec_env(identity: Identity, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path: Path = tmp_path_factory.mktemp("spec-policy") / "policy.yaml"
    path.write_text(SPEC_POLICY.format(bucket=identity.bucket, api=fingerprint(API_TOKEN)))
    return environment(identity, path)


@pytest.fixture(scope="module")
def spec_settings(spec_env: dict[str, str]) -> Settings:
    return load(spec_env)


@pytest.fixture(scope="module")
def spec_signer(spec_settings: Settings) -> Iterator[RunningSigner]:
    running = RunningSigner(create_app(spec_settings)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def spec_api(spec_signer: RunningSigner) -> Api:
    return Api(spec_signer.url)


def claims_of(token: str) -> dict[str, Any]:
    """A token's (signed, not secret) payload."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return decoded


def shard(key_base: str) -> str:
    return hashlib.sha1(key_base.encode(), usedforsecurity=False).hexdigest()[:2]


def spec_body(**changes: Any) -> dict[str, Any]:
    """The spec's PresignRequest, field for field."""
    body = {
        "key_base": ULID,
        "ext": "mov",
        "bucket": None,  # filled by the test: the deployment's bucket
        "mime": "video/quicktime",
        "size_bytes": 11,
        "kind": "video",
        "profile": "listing",
        "multipart": "auto",
        "shard": shard(ULID),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def exists(identity: Identity, key: str) -> bool:
    try:
        identity.root.stat_object(identity.bucket, key)
    except Exception:
        return False
    return True


# --- the exact request body, single PUT ------------------------------------------------------


def test_the_spec_request_body_gets_the_spec_response_and_a_working_put(
    spec_api: Api, identity: Identity, spec_settings: Settings
) -> None:
    key_base = "01JD5Z8Q4V6W7X8Y9Z0SINGLE0"
    body = b"spec upload"
    answer = spec_api.ok(
        PRESIGN,
        spec_body(
            key_base=key_base,
            shard=shard(key_base),
            bucket=identity.bucket,
            size_bytes=len(body),
        ),
    )
    # PresignResponse: intent_token, key_base, object_key, expires_at (RFC 3339), strategy,
    # upload {method, url, headers} with If-None-Match: * (and the kit's extra fields).
    assert answer["key_base"] == key_base
    assert answer["object_key"] == f"listing/{shard(key_base)}/{key_base}.mov"
    assert answer["shard"] == shard(key_base)
    assert answer["strategy"] == "single"
    assert answer["bucket"] == identity.bucket and answer["mime"] == "video/quicktime"
    for moment in (answer["expires_at"], answer["token_expires_at"]):
        assert datetime.fromisoformat(moment).tzinfo is not None
    upload = answer["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"]["If-None-Match"] == "*"
    assert upload["headers"]["Content-Type"] == "video/quicktime"
    assert upload["headers"]["x-amz-server-side-encryption"] == "AES256"
    put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30)
    assert put.status_code == 200, put.text

    done = spec_api.ok(COMPLETE, {"intent_token": answer["intent_token"]})
    stored = identity.root.stat_object(identity.bucket, answer["object_key"])
    assert done["size_bytes"] == len(body) and stored.size == len(body)
    assert stored.metadata.get("x-amz-server-side-encryption") == "AES256"


def test_the_intent_token_carries_the_spec_claims(spec_api: Api, identity: Identity) -> None:
    answer = spec_api.ok(
        PRESIGN,
        spec_body(bucket=identity.bucket, size_bytes=20 * MiB, actor="user:42"),
    )
    claims = claims_of(answer["intent_token"])
    header = header_of(answer["intent_token"])
    # Every claim the spec's UploadIntent requires.
    assert claims["sub"] == "user:42"  # the actor the backend named
    assert claims["azp"] == fingerprint(API_TOKEN)  # the API token behind it
    assert claims["iss"] == claims["aud"] == "minio-stack-signer"
    assert claims["exp"] - claims["iat"] == 900  # token_ttl_seconds
    assert claims["bucket"] == identity.bucket
    assert claims["mime"] == "video/quicktime"
    assert claims["size_max"] == 20 * MiB
    assert (claims["key_base"], claims["ext"], claims["shard"]) == (ULID, "mov", shard(ULID))
    assert claims["object_key"] == answer["object_key"]
    assert claims["strategy"] == "multipart"
    assert claims["part_size"] == 5 * MiB  # part_size_mb
    assert claims["headers_required"] == SSE
    assert claims["kid"] == header["kid"] and header["alg"] == "ES256"
    assert claims["renew_until"] == claims["iat"] + 86400  # the multipart window
    spec_api.ok(ABORT, {"intent_token": answer["intent_token"]})


# --- multipart, followed the way a spec client follows it -------------------------------------


def test_a_multipart_upload_through_the_descriptors_and_the_per_part_route(
    spec_api: Api, identity: Identity
) -> None:
    body = bytes(range(256)) * (24 * 1024)  # 6 MiB: two parts of the spec's 5 MiB
    key_base = "01JD5Z8Q4V6W7X8Y9Z0MULTI01"
    answer = spec_api.ok(
        PRESIGN,
        spec_body(
            key_base=key_base,
            shard=shard(key_base),
            bucket=identity.bucket,
            size_bytes=len(body),
            multipart="force",
        ),
    )
    upload = answer["upload"]
    assert answer["strategy"] == "multipart"
    assert upload["part_size"] == 5 * MiB and upload["part_count"] == 2
    assert "create" not in upload  # the signer created it, with the headers it chose
    part, complete, abort = upload["part"], upload["complete"], upload["abort"]
    assert (part["method"], part["url"]) == ("POST", PART)
    assert (complete["method"], complete["url"]) == ("POST", COMPLETE)
    assert (abort["method"], abort["url"]) == ("POST", ABORT)
    assert part["body"] == {"intent_token": answer["intent_token"], "uploadId": upload["upload_id"]}

    etags = []
    for number in (1, 2):
        signed = spec_api.post(
            part["url"], {**part["body"], "partNumber": number}, headers=part["headers"]
        )
        assert signed.status_code == 200, signed.text
        url = signed.json()
        assert set(url) == {"method", "url", "headers", "part_number", "expires_at"}
        chunk = body[(number - 1) * 5 * MiB : number * 5 * MiB]
        assert url["headers"] == {"Content-Length": str(len(chunk))}
        sent = requests.put(url["url"], data=chunk, headers=url["headers"], timeout=60)
        assert sent.status_code == 200, sent.text
        etags.append(sent.headers["ETag"])

    done = spec_api.post(complete["url"], complete["body"], headers=complete["headers"])
    assert done.status_code == 200, done.text
    assert done.json()["size_bytes"] == len(body)
    stored = identity.root.get_object(identity.bucket, answer["object_key"]).read()
    assert stored == body


def test_the_per_part_route_signs_only_its_own_upload(spec_api: Api, identity: Identity) -> None:
    """An attacker holding one valid intent token (and an API token) cannot pair it with
    another upload's id, a part the upload does not have, or a single PUT's intent."""
    mine = spec_api.ok(PRESIGN, spec_body(bucket=identity.bucket, size_bytes=10, multipart="force"))
    theirs = spec_api.ok(
        PRESIGN, spec_body(bucket=identity.bucket, size_bytes=10, multipart="force")
    )
    token, upload_id = mine["intent_token"], mine["upload"]["upload_id"]
    other_id = theirs["upload"]["upload_id"]

    wrong = spec_api.post(PART, {"intent_token": token, "uploadId": other_id, "partNumber": 1})
    assert (
        "not the upload of this intent_token" in assert_error(wrong, 400, "bad_request")["message"]
    )
    beyond = spec_api.post(PART, {"intent_token": token, "uploadId": upload_id, "partNumber": 2})
    assert "outside 1..1" in assert_error(beyond, 400, "bad_request")["message"]
    for number in (0, 10_001, "1"):
        bad = spec_api.post(
            PART, {"intent_token": token, "uploadId": upload_id, "partNumber": number}
        )
        assert_error(bad, 400, "bad_request")
    single = spec_api.ok(PRESIGN, spec_body(bucket=identity.bucket, size_bytes=10))
    not_multipart = spec_api.post(
        PART, {"intent_token": single["intent_token"], "uploadId": upload_id, "partNumber": 1}
    )
    assert "not a multipart upload" in assert_error(not_multipart, 400, "bad_request")["message"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    forged = spec_api.post(PART, {"intent_token": tampered, "uploadId": upload_id, "partNumber": 1})
    assert_error(forged, 403, "signature_invalid")
    unauthenticated = Api(spec_api.base_url, token=None).post(
        PART, {"intent_token": token, "uploadId": upload_id, "partNumber": 1}
    )
    assert_error(unauthenticated, 401, "unauthorized")
    for answer in (mine, theirs):
        spec_api.ok(ABORT, {"intent_token": answer["intent_token"]})


# --- validation: the spec's rules and codes ---------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status", "code", "words"),
    [
        ({"bucket": "somebody-elses"}, 400, "bad_request", "not the bucket"),
        ({"kind": "image"}, 415, "mime_not_allowed", "not of kind 'image'"),
        ({"kind": "audio"}, 400, "bad_request", "no kind 'audio'"),
        ({"kind": "Video!"}, 400, "bad_request", "not a kind"),
        ({"mime": "video/mp4"}, 415, "mime_not_allowed", "not allowed"),
        ({"size_bytes": 201 * MiB}, 413, "size_too_large", "larger than"),
        ({"size_bytes": 10**15}, 413, "size_too_large", "larger than"),
        ({"ext": "mp4"}, 400, "bad_request", "does not match"),
        ({"shard": "00" if shard(ULID) != "00" else "01"}, 400, "bad_request", "sha1(key_base)"),
        ({"shard": "xyz"}, 400, "bad_request", "shard"),
        ({"mime": None}, 400, "bad_request", "'mime' (or 'content_type') is required"),
        ({"content_type": "image/jpeg"}, 400, "bad_request", "differ"),
        ({"multipart": "sometimes"}, 400, "bad_request", "multipart"),
        ({"actor": "two words"}, 400, "bad_request", "actor"),
        ({"endpoint": "elsewhere"}, 400, "bad_request", "endpoint"),
        (
            {"profile": "dated", "mime": "text/plain", "ext": "txt", "kind": None, "shard": None},
            400,
            "bad_request",
            "does not use key_base",
        ),  # fmt: skip
        (
            {
                "profile": "dated",
                "mime": "text/plain",
                "ext": "txt",
                "kind": None,
                "key_base": None,
            },
            400,
            "bad_request",
            "does not use shard",
        ),  # fmt: skip
    ],
)
def test_refusals_have_the_spec_codes(
    spec_api: Api,
    identity: Identity,
    changes: dict[str, Any],
    status: int,
    code: str,
    words: str,
) -> None:
    body = spec_body(bucket=identity.bucket)
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not None}
    error = assert_error(spec_api.post(PRESIGN, body), status, code)
    assert words in error["message"]


def test_content_type_still_works_and_equals_mime(spec_api: Api, identity: Identity) -> None:
    today = spec_api.ok(
        PRESIGN, {"content_type": "text/plain", "size_bytes": 3, "profile": "dated"}
    )
    both = spec_api.ok(
        PRESIGN,
        {"content_type": "text/plain", "mime": "text/plain", "size_bytes": 3, "profile": "dated"},
    )
    for answer in (today, both):
        assert answer["mime"] == "text/plain" and answer["object_key"].startswith("dated/")
        # The key has no {key_base}: none is claimed, none is echoed.
        assert "key_base" not in answer
        assert claims_of(answer["intent_token"])["key_base"] is None


def test_the_kind_follows_the_media_type_without_a_kinds_table(api: Api) -> None:
    """The session policy has no allowed_mimes: kind is the MIME type's top-level name."""
    ok = api.ok(PRESIGN, {"mime": "image/png", "kind": "image", "size_bytes": 1})
    assert ok["mime"] == "image/png"
    error = assert_error(
        api.post(PRESIGN, {"mime": "image/png", "kind": "video", "size_bytes": 1}),
        415,
        "mime_not_allowed",
    )
    assert "not of kind 'video'" in error["message"]


def test_the_default_profile_uses_a_key_base_it_is_given(api: Api) -> None:
    """No key_base is echoed that the key was not made from."""
    answer = api.ok(PRESIGN, {"mime": "text/plain", "size_bytes": 1, "key_base": ULID})
    assert answer["key_base"] == ULID and answer["object_key"].endswith(f"/{ULID}.txt")
    made = api.ok(PRESIGN, {"mime": "text/plain", "size_bytes": 1})
    assert made["object_key"].endswith(f"/{made['key_base']}.txt")


def test_sharding_is_a_knob(spec_api: Api, identity: Identity, spec_settings: Settings) -> None:
    sharded = spec_api.ok(PRESIGN, spec_body(bucket=identity.bucket, shard=None))
    assert sharded["object_key"] == f"listing/{shard(ULID)}/{ULID}.mov"
    # The same profile with enable_sharding off: {shard?} and its slash drop out.
    import dataclasses

    from signer.core.policy import Policy

    policy = spec_settings.policy
    flat = dataclasses.replace(policy.profile("listing"), enable_sharding=False)
    settings = dataclasses.replace(
        spec_settings, policy=Policy({**policy.profiles, "listing": flat}, policy.default_profile)
    )
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        answer = client.post(
            PRESIGN, json=spec_body(bucket=identity.bucket, shard=None), headers=auth
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["object_key"] == f"listing/{ULID}.mov"
        assert "shard" not in answer.json()
        refused = client.post(PRESIGN, json=spec_body(bucket=identity.bucket), headers=auth)
        assert "does not use shard" in assert_error(refused, 400, "bad_request")["message"]


# --- short tokens, long uploads: refresh ------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_long_multipart_upload_renews_its_token(
    spec_settings: Settings, identity: Identity
) -> None:
    clock = Clock()
    start = clock.now
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    with TestClient(create_app(spec_settings, clock=clock)) as client:
        answer = client.post(
            PRESIGN,
            json=spec_body(bucket=identity.bucket, size_bytes=10, multipart="force"),
            headers=auth,
        ).json()
        token, upload_id = answer["intent_token"], answer["upload"]["upload_id"]
        first = client.post(
            PART, json={"intent_token": token, "uploadId": upload_id, "partNumber": 1}, headers=auth
        ).json()
        sent = requests.put(first["url"], data=b"0123456789", headers=first["headers"], timeout=30)
        assert sent.status_code == 200

        clock.now = start + timedelta(seconds=901)  # the token's 15 minutes are over
        late = client.post(
            PART, json={"intent_token": token, "uploadId": upload_id, "partNumber": 1}, headers=auth
        )
        error = assert_error(late, 403, "signature_invalid")
        assert "expired" in error["message"] and "/v1/uploads/refresh" in error["hint"]

        renewed = client.post(REFRESH, json={"intent_token": token}, headers=auth)
        assert renewed.status_code == 200, renewed.text
        fresh = renewed.json()
        assert fresh["object_key"] == answer["object_key"]
        new_claims, old_claims = claims_of(fresh["intent_token"]), claims_of(token)
        assert new_claims["jti"] == old_claims["jti"]  # the same intent
        assert new_claims["renew_until"] == old_claims["renew_until"]  # the same window
        assert new_claims["exp"] == int(clock.now.timestamp()) + 900
        assert datetime.fromisoformat(fresh["renew_until"]) == datetime.fromtimestamp(
            old_claims["renew_until"], UTC
        )
        again = client.post(
            PART,
            json={"intent_token": fresh["intent_token"], "uploadId": upload_id, "partNumber": 1},
            headers=auth,
        )
        assert again.status_code == 200, again.text

        # Complete and abort end the intent: the first token still does, within the window.
        done = client.post(COMPLETE, json={"intent_token": token}, headers=auth)
        assert done.status_code == 200, done.text
        used = client.post(REFRESH, json={"intent_token": fresh["intent_token"]}, headers=auth)
        assert "already completed" in assert_error(used, 409, "conflict")["message"]


def test_no_renewal_complete_or_abort_after_the_window(
    spec_settings: Settings, identity: Identity
) -> None:
    clock = Clock()
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    with TestClient(create_app(spec_settings, clock=clock)) as client:
        answer = client.post(
            PRESIGN,
            json=spec_body(bucket=identity.bucket, size_bytes=10, multipart="force"),
            headers=auth,
        ).json()
        token = answer["intent_token"]
        clock.now += timedelta(seconds=86400)
        for path in (REFRESH, COMPLETE, ABORT):
            refused = client.post(path, json={"intent_token": token}, headers=auth)
            assert (
                "upload window ended" in assert_error(refused, 403, "signature_invalid")["message"]
            )
        clock.now -= timedelta(seconds=86400)
        client.post(ABORT, json={"intent_token": token}, headers=auth)


def test_refresh_refuses_an_upload_storage_no_longer_holds(
    spec_api: Api, identity: Identity, spec_settings: Settings
) -> None:
    answer = spec_api.ok(
        PRESIGN, spec_body(bucket=identity.bucket, size_bytes=10, multipart="force")
    )
    storage = Storage.from_settings(spec_settings)
    storage.abort_multipart(answer["object_key"], answer["upload"]["upload_id"])  # behind its back
    gone = spec_api.post(REFRESH, {"intent_token": answer["intent_token"]})
    assert_error(gone, 404, "not_found")
    aborted = spec_api.ok(PRESIGN, spec_body(bucket=identity.bucket, size_bytes=10))
    spec_api.ok(ABORT, {"intent_token": aborted["intent_token"]})
    again = spec_api.post(REFRESH, {"intent_token": aborted["intent_token"]})
    assert "already aborted" in assert_error(again, 409, "conflict")["message"]
    for bad in ({}, {"intent_token": "not-a-token"}, {"intent_token": "x", "extra": 1}):
        assert spec_api.post(REFRESH, bad).status_code in (400, 403)


def test_a_token_from_before_the_upgrade_still_completes(
    settings: Settings, api: Api, identity: Identity
) -> None:
    """A token in flight across the upgrade: the first release's claims exactly (no azp,
    key_base, ext, shard, renew_until, kid claim), a 75-minute single-PUT lifetime."""
    now = datetime.now(UTC).replace(microsecond=0)
    jti = "0123456789abcdef0123456789abcdef"
    key = f"uploads/{now:%Y/%m}/01JOLDTOKEN000000000000000.txt"
    claims = {
        "sub": fingerprint(API_TOKEN),
        "jti": jti,
        "bucket": settings.bucket,
        "object_key": key,
        "profile": "default",
        "mime": "text/plain",
        "size": 3,
        "size_max": 3,
        "strategy": "single",
        "headers_required": {},
        "filename": None,
    }
    # How the first release wrote a token (no kid claim: issue() adds one now).
    import jwt

    token = jwt.encode(
        {**claims, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 4500}
        | {"iss": settings.token_issuer, "aud": settings.token_audience},
        settings.keys._active.private_key,
        algorithm="ES256",
        headers={"kid": settings.keys.active_kid},
    )
    headers = {
        "Content-Type": "text/plain",
        "Content-Length": "3",
        "If-None-Match": "*",
        "x-amz-meta-intent": jti,
    }
    service = SignerService(settings, Storage.from_settings(settings))
    url = service.sign("PUT", staging_key(jti), now=now, expires=900, headers=headers)
    assert requests.put(url, data=b"old", headers=headers, timeout=30).status_code == 200
    done = api.ok(COMPLETE, {"intent_token": token})
    assert done["object_key"] == key and done["size_bytes"] == 3
    renewed = api.post(REFRESH, {"intent_token": token})
    assert_error(renewed, 409, "conflict")


# --- tenants ----------------------------------------------------------------------------------


def test_a_tenant_fills_the_key_and_is_limited_per_api_token(
    spec_api: Api, spec_signer: RunningSigner, identity: Identity
) -> None:
    org = {"mime": "text/plain", "size_bytes": 3, "profile": "orgs", "key_base": "01JTENANT0"}
    answer = spec_api.ok(PRESIGN, {**org, "tenant": "acme"})
    assert answer["object_key"].startswith("orgs/acme/files/")
    assert claims_of(answer["intent_token"])["tenant"] == "acme"
    put = requests.put(
        answer["upload"]["url"], data=b"abc", headers=answer["upload"]["headers"], timeout=30
    )
    assert put.status_code == 200
    spec_api.ok(COMPLETE, {"intent_token": answer["intent_token"]})

    missing = assert_error(spec_api.post(PRESIGN, org), 400, "bad_request")
    assert "tenant is required" in missing["message"]
    other_org = assert_error(
        spec_api.post(PRESIGN, {**org, "tenant": "globex"}), 400, "bad_request"
    )
    assert "may not use tenant 'globex'" in other_org["message"] and "acme" in other_org["hint"]
    for bad in ("../acme", "a/b", "", "x" * 65):
        assert_error(spec_api.post(PRESIGN, {**org, "tenant": bad}), 400, "bad_request")
    unused = spec_api.post(PRESIGN, spec_body(bucket=identity.bucket, tenant="acme"))
    assert "does not use tenant" in assert_error(unused, 400, "bad_request")["message"]

    # Another API token, listed for no tenant: it may not upload for acme, nor read its files,
    # nor act on acme's intents with a token it got hold of.
    other = Api(spec_signer.url, OTHER_API_TOKEN)
    assert_error(other.post(PRESIGN, {**org, "tenant": "acme"}), 400, "bad_request")
    read = other.post("/v1/downloads/presign", {"object_key": answer["object_key"]})
    assert "may not use tenant 'acme'" in assert_error(read, 400, "bad_request")["message"]
    pending = spec_api.ok(PRESIGN, {**org, "tenant": "acme", "key_base": "01JTENANT1"})
    for path in (COMPLETE, ABORT, REFRESH):
        assert_error(
            other.post(path, {"intent_token": pending["intent_token"]}), 400, "bad_request"
        )
    assert spec_api.ok("/v1/downloads/presign", {"object_key": answer["object_key"]})["url"]
    forged_key = "orgs/acme/files/../../raw/x.txt"
    assert_error(
        other.post("/v1/downloads/presign", {"object_key": forged_key}), 400, "bad_request"
    )
    spec_api.ok(ABORT, {"intent_token": pending["intent_token"]})


# --- public vs internal endpoint -------------------------------------------------------------


def test_internal_urls_work_from_the_inside_only(
    api: Api, identity: Identity, settings: Settings
) -> None:
    """The signer signs for localhost (public) or 127.0.0.1 (internal, the endpoint it calls
    itself): each URL works on its own host and 403s on the other, as SigV4 signs the Host."""
    body = b"from a worker"
    answer = api.ok(
        PRESIGN, {"mime": "text/plain", "size_bytes": len(body), "endpoint": "internal"}
    )
    upload = answer["upload"]
    assert urlsplit(upload["url"]).netloc == f"127.0.0.1:{identity.minio.api_port}"
    assert urlsplit(answer["get_url"]).netloc == f"127.0.0.1:{identity.minio.api_port}"
    outside = upload["url"].replace("//127.0.0.1:", "//localhost:", 1)
    refused = requests.put(outside, data=body, headers=upload["headers"], timeout=30)
    assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
    assert requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30).ok
    assert claims_of(answer["intent_token"])["endpoint"] == "internal"
    done = api.ok(COMPLETE, {"intent_token": answer["intent_token"]})
    assert urlsplit(done["get_url"]).netloc.startswith("127.0.0.1:")
    assert requests.get(done["get_url"], timeout=30).content == body
    download = api.ok(
        "/v1/downloads/presign", {"object_key": answer["object_key"], "endpoint": "internal"}
    )
    assert requests.get(download["url"], timeout=30).content == body
    public = api.ok("/v1/downloads/presign", {"object_key": answer["object_key"]})
    assert urlsplit(public["url"]).netloc.startswith("localhost:")

    # A multipart upload keeps its endpoint for the parts signed later.
    multi = api.ok(
        PRESIGN,
        {"mime": "text/plain", "size_bytes": 10, "multipart": "force", "endpoint": "internal"},
    )
    parts = api.ok(
        "/v1/uploads/parts", {"intent_token": multi["intent_token"], "part_numbers": [1]}
    )
    assert urlsplit(parts["parts"][0]["url"]).netloc.startswith("127.0.0.1:")
    api.ok(ABORT, {"intent_token": multi["intent_token"]})


def test_the_default_policy_signs_the_sse_header(identity: Identity, policy_file: Path) -> None:
    """With the built-in policy, the SSE header is in the PUT's signed headers and in the
    intent's headers_required, and storage encrypts the object with it."""
    env = {k: v for k, v in environment(identity, policy_file).items() if k != "SIGNER_POLICY_FILE"}
    with TestClient(create_app(load(env))) as client:
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        answer = client.post(
            PRESIGN, json={"mime": "text/plain", "size_bytes": 3}, headers=auth
        ).json()
        assert answer["upload"]["headers"]["x-amz-server-side-encryption"] == "AES256"
        assert claims_of(answer["intent_token"])["headers_required"] == SSE
        upload = answer["upload"]
        assert requests.put(upload["url"], data=b"sse", headers=upload["headers"], timeout=30).ok
        done = client.post(COMPLETE, json={"intent_token": answer["intent_token"]}, headers=auth)
        assert done.status_code == 200, done.text
    stat = identity.root.stat_object(identity.bucket, answer["object_key"])
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"


def test_openapi_documents_the_new_routes(spec_api: Api) -> None:
    document = spec_api.get("/openapi.json").json()
    part = document["paths"][PART]["post"]
    assert part["operationId"] == "presign_part"
    schemas = document["components"]["schemas"]
    assert set(schemas["PartPresignRequest"]["required"]) == {
        "intent_token",
        "uploadId",
        "partNumber",
    }
    assert document["paths"][REFRESH]["post"]["operationId"] == "refresh_intent"
    for field in ("mime", "bucket", "kind", "shard", "actor", "tenant", "endpoint"):
        assert field in schemas["PresignRequest"]["properties"]
