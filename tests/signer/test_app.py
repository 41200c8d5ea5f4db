"""The HTTP layer: every error code over HTTP with its status and exact body shape, auth,
rate limiting, health/readiness, metrics and the OpenAPI document.

Most tests use the session's real uvicorn server; apps configured differently (a rate limit,
storage that does not answer) run under Starlette's TestClient, still with real storage calls.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import jsonschema
import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from harness.minio_server import free_port
from signer.app import TrustedProxies, client_address, create_app
from signer.core.errors import ErrorCode
from signer.openapi import build_openapi
from signer.responses import STATUS
from signer.routes import API
from signer.settings import Settings, load
from tests.signer.conftest import (
    API_TOKEN,
    OTHER_API_TOKEN,
    Api,
    Identity,
    RunningSigner,
    assert_error,
    environment,
)

PRESIGN = "/v1/uploads/presign"
VALID = {"content_type": "text/plain", "size_bytes": 10}


def test_the_status_table_covers_every_code() -> None:
    assert set(STATUS) == set(ErrorCode)
    assert STATUS[ErrorCode.UNAUTHORIZED] == 401
    assert STATUS[ErrorCode.RATE_LIMITED] == 429


# --- unauthorized ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", [r.path for r in API])
def test_every_v1_route_needs_a_bearer_token(signer: RunningSigner, route: str) -> None:
    answer = Api(signer.url, token=None).post(route, VALID)
    assert_error(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token-0123456789", f"Basic {API_TOKEN}", "Bearer ", API_TOKEN]
)
def test_a_wrong_or_malformed_token_is_unauthorized(signer: RunningSigner, header: str) -> None:
    answer = requests.post(
        signer.url + PRESIGN, json=VALID, headers={"Authorization": header}, timeout=10
    )
    body = assert_error(answer, 401, "unauthorized")
    assert API_TOKEN not in answer.text
    assert "SIGNER_API_TOKENS" in body["hint"]


def test_every_configured_token_works(signer: RunningSigner) -> None:
    for token in (API_TOKEN, OTHER_API_TOKEN):
        assert Api(signer.url, token).post(PRESIGN, VALID).status_code == 200


# --- bad_request ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"content_type": "text/plain", "size_bytes": "10"}', "'size_bytes'"),
        (b'{"content_type": "text/plain", "size_bytes": 1.5}', "'size_bytes'"),
        (b'{"content_type": "text/plain", "size_bytes": -1}', "'size_bytes'"),
        (b'{"content_type": "text/plain"}', "field 'size_bytes' is required"),
        (b'{"content_type": "text/plain", "size_bytes": 1, "mulitpart": "off"}', "'mulitpart'"),
        (b'{"content_type": "text/plain", "size_bytes": 1, "multipart": "yes"}', "'multipart'"),
        (b'{"content_type": 7, "size_bytes": 1}', "'content_type'"),
    ],
)
def test_malformed_requests_are_bad_request_naming_the_field(
    api: Api, body: bytes, expected: str
) -> None:
    answer = api.post(PRESIGN, data=body, headers={"Content-Type": "application/json"})
    error = assert_error(answer, 400, "bad_request")
    assert expected in error["message"]
    assert "openapi.json" in error["hint"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"profile": "nope"}, "unknown profile"),
        ({"checksum_sha256": "not-a-digest"}, "checksum_sha256"),
        ({"ext": "png"}, "extension"),
        ({"content_type": "text plain"}, "not a MIME type"),
        ({"multipart": "force", "size_bytes": 0}, "at least one byte"),
    ],
)
def test_policy_refusals_that_are_bad_requests(api: Api, fields: dict, expected: str) -> None:
    error = assert_error(api.post(PRESIGN, {**VALID, **fields}), 400, "bad_request")
    assert expected in error["message"]


def test_an_oversized_request_body_is_bad_request(api: Api) -> None:
    answer = api.post(PRESIGN, data=b"{" + b" " * (1024 * 1024 + 10) + b"}")
    assert "larger than" in assert_error(answer, 400, "bad_request")["message"]


def test_unknown_routes_and_methods_answer_the_error_shape(api: Api) -> None:
    assert_error(api.get("/v2/nothing"), 404, "not_found")
    answer = api.get(PRESIGN)
    assert_error(answer, 405, "bad_request")
    assert answer.headers["Allow"] == "POST"


# --- mime_not_allowed, size_too_large -------------------------------------------------------


def test_a_type_outside_the_profile_is_mime_not_allowed(api: Api) -> None:
    error = assert_error(
        api.post(PRESIGN, {**VALID, "content_type": "image/gif"}), 415, "mime_not_allowed"
    )
    assert "text/plain" in error["hint"]


def test_a_size_over_the_profile_is_size_too_large(api: Api) -> None:
    error = assert_error(
        api.post(PRESIGN, {**VALID, "profile": "small", "size_bytes": 1025}), 413, "size_too_large"
    )
    assert "1 KiB" in error["hint"]
    answer = api.post("/v1/uploads/presign-post", {**VALID, "profile": "small", "size_bytes": 2048})
    assert_error(answer, 413, "size_too_large")


# --- signature_invalid ----------------------------------------------------------------------


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["size_max"] = 10**12
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "route", ["/v1/uploads/parts", "/v1/uploads/complete", "/v1/uploads/abort"]
)
def test_a_tampered_intent_token_is_signature_invalid(api: Api, route: str) -> None:
    intent = api.ok(PRESIGN, {**VALID, "size_bytes": 100, "multipart": "force"})
    body = {"intent_token": _tampered(intent["intent_token"])}
    if route.endswith("parts"):
        body["part_numbers"] = [1]
    error = assert_error(api.post(route, body), 403, "signature_invalid")
    assert "new upload intent" in error["hint"]
    assert_error(api.post(route, {**body, "intent_token": "garbage"}), 403, "signature_invalid")
    api.ok("/v1/uploads/abort", {"intent_token": intent["intent_token"]})


def test_a_token_from_another_signer_key_is_signature_invalid(
    identity: Identity, policy_file, api: Api
) -> None:
    other = load(environment(identity, policy_file, SIGNER_TOKEN_SECRETS="z" * 40))
    token = other.keys.issue(
        {
            "jti": "x",
            "bucket": identity.bucket,
            "object_key": "uploads/x.txt",
            "strategy": "single",
        },
        now=datetime.now(UTC),
        ttl=60,
        issuer=other.token_issuer,
        audience=other.token_audience,
    )
    assert_error(
        api.post("/v1/uploads/complete", {"intent_token": token}), 403, "signature_invalid"
    )


def test_parts_are_only_for_multipart_intents(api: Api) -> None:
    intent = api.ok(PRESIGN, VALID)
    answer = api.post(
        "/v1/uploads/parts", {"intent_token": intent["intent_token"], "part_numbers": [1]}
    )
    assert "not a multipart" in assert_error(answer, 400, "bad_request")["message"]
    answer = api.post(
        "/v1/uploads/complete",
        {"intent_token": intent["intent_token"], "parts": [{"part_number": 1, "etag": "x"}]},
    )
    assert_error(answer, 400, "bad_request")


# --- not_found, conflict (more in test_uploads.py) -------------------------------------------


def test_download_of_a_missing_object_is_not_found(api: Api) -> None:
    answer = api.post("/v1/downloads/presign", {"object_key": "uploads/2020/01/missing.txt"})
    assert_error(answer, 404, "not_found")


def test_a_second_complete_is_conflict(api: Api) -> None:
    intent = api.ok(PRESIGN, {**VALID, "size_bytes": 3})
    upload = intent["upload"]
    assert (
        requests.put(upload["url"], data=b"abc", headers=upload["headers"], timeout=10).status_code
        == 200
    )
    api.ok("/v1/uploads/complete", {"intent_token": intent["intent_token"]})
    assert_error(
        api.post("/v1/uploads/complete", {"intent_token": intent["intent_token"]}), 409, "conflict"
    )


# --- storage_denied -------------------------------------------------------------------------


def test_sse_without_kms_is_storage_denied_with_a_hint(signer_without_kms: RunningSigner) -> None:
    """MinIO without a KMS answers 501 NotImplemented to SSE: never a 500 from the signer."""
    answer = Api(signer_without_kms.url).post(PRESIGN, {**VALID, "profile": "sse"})
    error = assert_error(answer, 502, "storage_denied")
    assert "NotImplemented" in error["message"]
    assert "KMS" in error["hint"]


@pytest.fixture
def unreachable(identity: Identity, policy_file) -> Iterator[TestClient]:
    dead = f"http://127.0.0.1:{free_port()}"
    env = environment(
        identity,
        policy_file,
        SIGNER_S3_ENDPOINT=dead,
        SIGNER_PUBLIC_ENDPOINT=dead,
        SIGNER_STORAGE_TIMEOUT="2s",
    )
    with TestClient(create_app(load(env))) as client:
        client.headers["Authorization"] = f"Bearer {API_TOKEN}"
        yield client


def test_unreachable_storage_is_storage_denied_with_retry_after(
    unreachable: TestClient, identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = unreachable.post(PRESIGN, json={**VALID, "multipart": "force"})
    error = assert_error(answer, 502, "storage_denied")  # type: ignore[arg-type]
    assert error["retry_after_seconds"] >= 1
    assert "did not answer" in error["message"]
    # Offline signing still works: a single PUT needs no storage call.
    assert unreachable.post(PRESIGN, json=VALID).status_code == 200
    for text in (answer.text, caplog.text):
        assert identity.secret_key not in text and API_TOKEN not in text
        assert "X-Amz-Signature" not in text


def test_readyz_is_503_when_storage_does_not_answer(unreachable: TestClient) -> None:
    answer = unreachable.get("/readyz")
    error = assert_error(answer, 503, "storage_denied")  # type: ignore[arg-type]
    assert error["retry_after_seconds"] >= 1


def test_readyz_is_503_when_the_keys_are_wrong(identity: Identity, policy_file) -> None:
    env = environment(identity, policy_file, SIGNER_SECRET_KEY="wrong-secret-key-123")
    with TestClient(create_app(load(env))) as client:
        error = assert_error(client.get("/readyz"), 503, "storage_denied")  # type: ignore[arg-type]
    assert "SIGNER_SECRET_KEY" in error["hint"]
    assert "wrong-secret-key-123" not in json.dumps(error)


def test_healthz_and_readyz(api: Api, identity: Identity) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready", "bucket": identity.bucket}


def test_replicas_behave_as_one(api: Api, settings: Settings) -> None:
    """No session state: an intent from one replica completes on another, and the used
    intent is refused by the first (the record lives in storage)."""
    intent = api.ok(PRESIGN, {**VALID, "size_bytes": 4})
    upload = intent["upload"]
    assert (
        requests.put(upload["url"], data=b"same", headers=upload["headers"], timeout=10).status_code
        == 200
    )
    with TestClient(create_app(settings)) as other:
        answer = other.post(
            "/v1/uploads/complete",
            json={"intent_token": intent["intent_token"]},
            headers={"Authorization": f"Bearer {OTHER_API_TOKEN}"},
        )
    assert answer.status_code == 200 and answer.json()["size_bytes"] == 4
    assert_error(
        api.post("/v1/uploads/complete", {"intent_token": intent["intent_token"]}), 409, "conflict"
    )


def test_the_demo_page_is_served_only_when_asked(identity: Identity, policy_file) -> None:
    env = environment(identity, policy_file, SIGNER_LISTEN="127.0.0.1:8080")
    with TestClient(create_app(load(env))) as off:
        assert_error(off.get("/demo"), 404, "not_found")  # type: ignore[arg-type]
    with TestClient(create_app(load({**env, "SIGNER_DEMO": "true"}))) as on:
        page = on.get("/demo")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"


# --- rate_limited ---------------------------------------------------------------------------


def test_each_api_token_has_its_own_rate_limit(identity: Identity, policy_file) -> None:
    env = environment(identity, policy_file, SIGNER_RATE_LIMIT="0.01,2")
    with TestClient(create_app(load(env))) as client:

        def call(token: str):
            return client.post(PRESIGN, json=VALID, headers={"Authorization": f"Bearer {token}"})

        assert [call(API_TOKEN).status_code for _ in range(2)] == [200, 200]
        limited = call(API_TOKEN)
        error = assert_error(limited, 429, "rate_limited")  # type: ignore[arg-type]
        assert error["retry_after_seconds"] >= 1
        assert call(OTHER_API_TOKEN).status_code == 200


# --- the catch-all --------------------------------------------------------------------------


def test_a_bug_answers_the_error_shape_without_details(settings: Settings) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("secret internals")

    app = create_app(settings, clock=broken_clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(PRESIGN, json=VALID, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 500
    body = answer.json()
    assert body["code"] == "internal" and set(body) == {"code", "message", "hint"}
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


# --- metrics --------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_code(api: Api) -> None:
    api.post(PRESIGN, VALID)
    api.post(PRESIGN, {**VALID, "content_type": "image/gif"})
    text = api.get("/metrics").text
    assert 'signer_requests_total{code="ok",route="presign_upload"}' in text
    assert 'signer_requests_total{code="mime_not_allowed",route="presign_upload"}' in text
    assert "signer_request_duration_seconds_bucket" in text


# --- the OpenAPI document -------------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(api: Api) -> dict:
    document = api.get("/openapi.json").json()
    assert document == json.loads(json.dumps(build_openapi()))
    return document


def _validator(openapi: dict, name: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(
        {"components": openapi["components"]}, default_specification=DRAFT202012
    )
    registry = Registry().with_resource("urn:openapi", resource)
    schema = {"$ref": f"urn:openapi#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_openapi_lists_every_route_with_its_schemas(openapi: dict, signer: RunningSigner) -> None:
    assert openapi["openapi"].startswith("3.1")
    for route in API:
        operation = openapi["paths"][route.path]["post"]
        assert operation["security"] == [{"bearer": []}]
        assert route.request.__name__ in json.dumps(operation["requestBody"])
        assert route.response.__name__ in json.dumps(operation["responses"]["200"])
        for code in route.errors:
            response = operation["responses"][str(STATUS[code])]
            assert "ErrorBody" in json.dumps(response) and code.value in response["description"]
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert "get" in openapi["paths"][path]
    error_codes = openapi["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
    assert set(error_codes) == {c.value for c in ErrorCode} | {"internal"}


def test_real_answers_match_the_published_schemas(openapi: dict, api: Api) -> None:
    intent = api.ok(PRESIGN, {**VALID, "size_bytes": 100, "multipart": "force"})
    _validator(openapi, "PresignResponse").validate(intent)
    parts = api.ok(
        "/v1/uploads/parts", {"intent_token": intent["intent_token"], "part_numbers": [1]}
    )
    _validator(openapi, "PartsResponse").validate(parts)
    aborted = api.ok("/v1/uploads/abort", {"intent_token": intent["intent_token"]})
    _validator(openapi, "AbortResponse").validate(aborted)
    post = api.ok("/v1/uploads/presign-post", VALID)
    _validator(openapi, "PresignPostResponse").validate(post)
    error = api.post(PRESIGN, {**VALID, "content_type": "image/gif"}).json()
    _validator(openapi, "ErrorBody").validate(error)
    with pytest.raises(jsonschema.ValidationError):
        _validator(openapi, "ErrorBody").validate({"code": "teapot", "message": "x"})
    with pytest.raises(jsonschema.ValidationError):
        _validator(openapi, "PresignRequest").validate({**VALID, "mulitpart": "off"})


# --- no client input is a 500 ---------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    [
        "..",
        "../x",
        "a/b",
        ".",
        "",
        " ",
        "\x00",
        "text/plain",
        "TEXT/PLAIN; charset=x",
        "%2e%2e",
        "default",
        "listing",
        "uploads/../x",
        ".minio-stack/intents/x",
        "uploads/a.txt",
    ]
)
JSONISH = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | TEXT
    | st.lists(st.integers(-5, 10**6), max_size=5)
)


@settings_(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(
        [
            "/v1/uploads/presign",
            "/v1/uploads/presign-post",
            "/v1/downloads/presign",
            "/v1/uploads/parts",
        ]
    ),
    body=st.dictionaries(
        st.sampled_from(
            [
                "content_type",
                "size_bytes",
                "filename",
                "profile",
                "key_base",
                "ext",
                "multipart",
                "checksum_sha256",
                "object_key",
                "ttl_seconds",
                "disposition",
                "response_content_type",
                "intent_token",
                "part_numbers",
                "extra",
            ]
        ),
        JSONISH,
    ),
)
def test_no_client_input_is_a_server_error(fuzz_client: TestClient, route: str, body: dict) -> None:
    if body.get("multipart") == "force" or (
        isinstance(body.get("size_bytes"), int) and body["size_bytes"] > 15 * 1024 * 1024
    ):
        body["multipart"] = "off"  # keep the fuzzing from creating multipart uploads
    answer = fuzz_client.post(route, content=json.dumps(body))
    assert answer.status_code < 500, answer.text
    if answer.status_code != 200:
        assert_error(answer, answer.status_code, answer.json()["code"])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fuzz_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        client.headers["Authorization"] = f"Bearer {API_TOKEN}"
        yield client


# --- the request guard: client address, failed authentications ---------------------------


def _scope(peer: str, *forwarded: str) -> dict:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 40000), "headers": headers}


def test_the_client_address_is_the_peer_unless_a_trusted_proxy_forwards() -> None:
    nobody = TrustedProxies(())
    assert client_address(_scope("203.0.113.9", "198.51.100.1"), nobody) == "203.0.113.9"
    proxies = TrustedProxies([ipaddress.ip_network("10.0.0.0/8")])
    # Behind a trusted proxy: the right-most entry that is not a proxy itself.
    spoofed = _scope("10.1.2.3", "6.6.6.6, 198.51.100.1", "10.9.9.9")
    assert client_address(spoofed, proxies) == "198.51.100.1"
    assert client_address(_scope("10.1.2.3"), proxies) == "10.1.2.3"  # no header: the proxy
    assert client_address(_scope("203.0.113.9", "198.51.100.1"), proxies) == "203.0.113.9"
    assert client_address({"type": "http", "headers": []}, proxies) == ""


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    identity: Identity, policy_file
) -> None:
    env = environment(
        identity,
        policy_file,
        SIGNER_FAILED_AUTH_LIMIT="0.01,3",
        SIGNER_TRUSTED_PROXIES="127.0.0.1",
    )
    app = create_app(load(env))
    with TestClient(app, client=("127.0.0.1", 40000)) as proxy:

        def call(client: str, token: str) -> requests.Response:
            headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": client}
            return proxy.post(PRESIGN, json=VALID, headers=headers)  # type: ignore[return-value]

        assert [call("198.51.100.7", "wrong-token-000000").status_code for _ in range(4)] == [
            401, 401, 401, 429,
        ]  # fmt: skip
        assert call("198.51.100.7", API_TOKEN).status_code == 429  # refused before auth
        assert call("198.51.100.8", API_TOKEN).status_code == 200
        assert proxy.get("/healthz", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 200
        metrics = proxy.get("/metrics").text
    assert 'signer_rate_limited_total{limit="address"} 2.0' in metrics
    assert 'signer_requests_total{code="rate_limited",route="unmatched"} 2.0' in metrics
