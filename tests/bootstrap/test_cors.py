"""cors: MinIO's server-wide cors_allow_origin, PutBucketCors rules elsewhere, real preflights."""

from __future__ import annotations

import pytest
import requests
from minio.error import S3Error

from bootstrap import cors, minio_api
from bootstrap.converge import converge, run
from bootstrap.minio_api import ApiConfig, ApiValue
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.step import Kind
from common.errors import PermanentError
from tests.bootstrap.conftest import APP_ORIGIN, OTHER_ORIGIN, settings_for

CORS = minio_api.CORS_ALLOW_ORIGIN


def desired(origins: tuple[str, ...]) -> cors.MinioDesired:
    api = ApiConfig({CORS: cors.setting_value(origins), minio_api.STALE_UPLOADS_EXPIRY: "24h"})
    return cors.MinioDesired(origins, api, "uploads")


# --- pure -------------------------------------------------------------------------------------


def test_normalise_reads_like_minio():
    assert cors.normalise(None) == ("*",)  # MinIO's default
    assert cors.normalise("") == ("*",)
    assert cors.normalise("https://b.example, https://a.example") == (
        "https://a.example",
        "https://b.example",
    )


def test_no_origins_means_an_origin_no_browser_sends():
    assert cors.setting_value(()) == cors.CORS_NONE
    assert cors.CORS_NONE.endswith(".invalid")


def test_minio_diff():
    want = desired((APP_ORIGIN,))
    assert cors.minio_diff(ApiValue(CORS, APP_ORIGIN), want) == []
    (change,) = cors.minio_diff(ApiValue(CORS, "*"), want)
    assert change.kind is Kind.UPDATE and (change.before, change.after) == ("*", APP_ORIGIN)
    # Order and spacing do not count as a difference.
    two = desired(("http://localhost:3000", APP_ORIGIN))
    assert cors.minio_diff(ApiValue(CORS, f"{APP_ORIGIN}, http://localhost:3000"), two) == []


def test_minio_diff_with_environment_override():
    want = desired((APP_ORIGIN,))
    # The environment already says what we want: nothing to do, whatever is stored.
    assert cors.minio_diff(ApiValue(CORS, "*", APP_ORIGIN), want) == []
    with pytest.raises(PermanentError) as info:
        cors.minio_diff(ApiValue(CORS, APP_ORIGIN, "https://other.example"), want)
    assert "MINIO_API_CORS_ALLOW_ORIGIN" in info.value.message
    assert "unset MINIO_API_CORS_ALLOW_ORIGIN" in info.value.hint


S3_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule>
    <AllowedOrigin>https://app.example.com</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod><AllowedMethod>POST</AllowedMethod>
    <AllowedHeader>Content-Type</AllowedHeader><AllowedHeader>Content-MD5</AllowedHeader>
    <AllowedHeader>x-amz-*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>"""


def test_parse_rules_normalises():
    (rule,) = cors.parse_rules(S3_XML)
    assert rule == cors.BucketDesired("b", (APP_ORIGIN,)).rule()
    assert rule.methods == ("GET", "HEAD", "POST", "PUT") and rule.expose == ("etag",)


def test_rules_xml_round_trip():
    rule = cors.BucketDesired("b", (APP_ORIGIN, "http://localhost:3000")).rule()
    assert cors.parse_rules(cors.rules_xml((rule,))) == (rule,)


def test_bucket_diff():
    want = cors.BucketDesired("uploads", (APP_ORIGIN,))
    assert cors.bucket_diff((want.rule(),), want) == []
    (create,) = cors.bucket_diff((), want)
    assert create.kind is Kind.CREATE and create.payload == (want.rule(),)
    other = cors.Rule.of(["*"], ["GET"], [], [])
    (update,) = cors.bucket_diff((other, want.rule()), want)  # declared origins are the whole truth
    assert update.kind is Kind.UPDATE and update.payload == (want.rule(),)


def test_bucket_step_without_origins_declares_only_the_disabled_origin():
    # Not skipped: some servers answer every origin for a bucket without rules (SeaweedFS).
    step = cors.bucket_step("uploads", ())
    assert step.skip is None and step.desired.origins == (cors.CORS_NONE,)
    assert cors.bucket_step("uploads", (APP_ORIGIN,)).desired.origins == (APP_ORIGIN,)


# --- real MinIO ---------------------------------------------------------------------------------


def test_bucket_cors_calls_reach_minio_signed(minio):
    """The PutBucketCors path's raw calls, against a server that keeps CORS server-wide: the
    read finds no rules (absence is an empty value) and the write is refused as unsupported,
    not as badly signed (its Content-MD5 header is signed too)."""
    if not minio.client().bucket_exists("cors-raw"):
        minio.client().make_bucket("cors-raw")
    clients = Clients.connect(settings_for(minio))
    want = cors.BucketDesired("cors-raw", (APP_ORIGIN,))
    current = cors.bucket_read(clients, want)
    assert current == ()
    with pytest.raises(S3Error) as info:
        cors.bucket_apply(clients, want, cors.bucket_diff(current, want))
    assert info.value.code == "NotImplemented"


def preflight(server, origin: str) -> str | None:
    resp = requests.options(
        f"{server.endpoint}/uploads/any-key",
        headers={"Origin": origin, "Access-Control-Request-Method": "PUT"},
        timeout=10,
    )
    return resp.headers.get("Access-Control-Allow-Origin")


@pytest.mark.parametrize(
    ("origins", "echoed", "refused"),
    [
        ((APP_ORIGIN,), [APP_ORIGIN], [OTHER_ORIGIN]),
        ((), [], [APP_ORIGIN, OTHER_ORIGIN, "null"]),
        (("*",), [APP_ORIGIN, OTHER_ORIGIN], []),
    ],
    ids=["listed", "none", "any"],
)
def test_minio_cors_applied_live_and_verified(module_minio, origins, echoed, refused):
    clients = Clients.connect(settings_for(module_minio))
    if not module_minio.client().bucket_exists("uploads"):
        module_minio.client().make_bucket("uploads")
    (report,) = converge(
        [cors.minio_step(origins, desired(origins).api, "uploads")], clients, plan=False
    )
    assert report.status in (Status.CHANGED, Status.UNCHANGED), report
    assert report.verified
    stored = minio_api.read(module_minio.admin())[CORS]
    assert stored.effective == cors.setting_value(origins)
    for origin in echoed:
        assert preflight(module_minio, origin) == origin
    for origin in refused:
        assert preflight(module_minio, origin) is None


def test_environment_override_reported_and_conflict_fails_with_nothing_written(minio_factory):
    server = minio_factory(extra_env={"MINIO_API_CORS_ALLOW_ORIGIN": APP_ORIGIN})
    report = run(settings_for(server, SIGNER_ACCESS_KEY=None, SIGNER_SECRET_KEY=None))
    assert report.ok, str(report)
    step = next(s for s in report.steps if s.step == "cors")
    assert step.status is Status.UNCHANGED
    assert (
        step.observed["source"] == "env" and step.observed["env"] == "MINIO_API_CORS_ALLOW_ORIGIN"
    )

    before = server.admin().config_get("api")
    conflict = run(
        settings_for(server, MINIO_BUCKET="second", CORS_ALLOWED_ORIGINS="https://other.example")
    )
    assert not conflict.ok
    failed = conflict.first_failure
    assert failed is not None and failed.label == "cors[server]"
    assert "MINIO_API_CORS_ALLOW_ORIGIN" in failed.detail and "unset" in failed.hint
    assert all(s.status is not Status.CREATED for s in conflict.steps)
    assert not server.client().bucket_exists("second")  # planning failed: nothing applied
    assert server.admin().config_get("api") == before
