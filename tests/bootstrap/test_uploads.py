"""uploads: MinIO's stale_uploads_expiry; elsewhere a lifecycle rule merged into existing rules."""

from __future__ import annotations

import pytest
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from bootstrap import minio_api, uploads
from bootstrap.converge import converge
from bootstrap.minio_api import ApiConfig, ApiValue
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.step import Kind
from common.envconfig import format_duration
from common.errors import PermanentError
from tests.bootstrap.conftest import settings_for

EXPIRY = minio_api.STALE_UPLOADS_EXPIRY


def desired(seconds: float) -> uploads.MinioDesired:
    api = ApiConfig(
        {minio_api.CORS_ALLOW_ORIGIN: "https://a.example", EXPIRY: format_duration(seconds)}
    )
    return uploads.MinioDesired(seconds, api)


def test_seconds_of_go_durations():
    assert uploads.seconds_of("24h") == 86400
    assert uploads.seconds_of("1h30m0s") == 5400
    assert uploads.seconds_of(None) == uploads.MINIO_DEFAULT
    assert uploads.seconds_of("1.5h") is None  # unreadable: differs from anything declared


def test_minio_diff_compares_durations_not_spelling():
    assert uploads.minio_diff(ApiValue(EXPIRY, "2h0m0s"), desired(7200)) == []
    (change,) = uploads.minio_diff(ApiValue(EXPIRY, "24h"), desired(7200))
    assert (change.before, change.after) == ("24h", "2h")
    with pytest.raises(PermanentError, match="MINIO_API_STALE_UPLOADS_EXPIRY"):
        uploads.minio_diff(ApiValue(EXPIRY, "2h", "5h"), desired(7200))
    assert desired(7 * 86400).value == "168h"  # Go has no "d" unit: MinIO could not parse 7d


KEEP = Rule(
    ENABLED,
    rule_filter=Filter(prefix="logs/"),
    rule_id="expire-logs",
    expiration=Expiration(days=30),
)


def test_lifecycle_rule_created_when_missing():
    (change,) = uploads.lifecycle_diff((KEEP,), uploads.LifecycleDesired("b", 2))
    assert change.kind is Kind.CREATE and change.after == "abort after 2d"
    rule = uploads.abort_rule(2)
    assert rule.rule_id == uploads.RULE_ID
    assert rule.abort_incomplete_multipart_upload.days_after_initiation == 2


def test_lifecycle_rule_updated_in_place():
    old = uploads.abort_rule(7)
    (change,) = uploads.lifecycle_diff((old, KEEP), uploads.LifecycleDesired("b", 1))
    assert change.kind is Kind.UPDATE and change.before.startswith("abort after 7d")
    assert (
        uploads.lifecycle_diff((KEEP, uploads.abort_rule(1)), uploads.LifecycleDesired("b", 1))
        == []
    )


def test_lifecycle_observe():
    assert uploads.lifecycle_observe((KEEP, uploads.abort_rule(3))) == {
        "abort_after_days": 3,
        "other_rules": 1,
    }


def test_lifecycle_read_keeps_existing_rules_on_a_real_server(minio):
    client = minio.client()
    client.make_bucket("lifecycle-read")
    client.set_bucket_lifecycle("lifecycle-read", LifecycleConfig([KEEP]))
    clients = Clients.connect(settings_for(minio))
    current = uploads.lifecycle_read(clients, uploads.LifecycleDesired("lifecycle-read", 1))
    assert [r.rule_id for r in current] == ["expire-logs"]
    assert uploads.lifecycle_read(clients, uploads.LifecycleDesired("no-such-bucket-x", 1)) == ()


def test_minio_expiry_written_and_read_back(fresh_minio):
    clients = Clients.connect(settings_for(fresh_minio))
    step = uploads.minio_step(90 * 60, desired(90 * 60).api)
    (report,) = converge([step], clients, plan=False)
    assert report.status is Status.CHANGED and report.verified
    assert report.observed["seconds"] == 5400
    assert minio_api.read(fresh_minio.admin())[EXPIRY].effective in ("1h30m", "1h30m0s")
    (again,) = converge([step], clients, plan=False)
    assert again.status is Status.UNCHANGED
