"""bucket: created when missing; a concurrent creation is success."""

from __future__ import annotations

from bootstrap import bucket
from bootstrap.converge import converge
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.step import Kind
from tests.bootstrap.conftest import settings_for


def test_diff():
    want = bucket.Desired("b")
    assert bucket.diff(bucket.Current(exists=True), want) == []
    (change,) = bucket.diff(bucket.Current(), want)
    assert change.kind is Kind.CREATE and change.what == "bucket b"


def test_created_then_unchanged(minio):
    clients = Clients.connect(settings_for(minio))
    (first,) = converge([bucket.step("bucket-step")], clients, plan=False)
    assert first.status is Status.CREATED and first.verified
    assert minio.client().bucket_exists("bucket-step")
    (second,) = converge([bucket.step("bucket-step")], clients, plan=False)
    assert second.status is Status.UNCHANGED


def test_losing_a_creation_race_is_success(minio):
    clients = Clients.connect(settings_for(minio))
    step = bucket.step("bucket-race")
    planned = bucket.diff(step.read(clients, step.desired), step.desired)
    minio.client().make_bucket("bucket-race")  # another bootstrap wins between plan and apply
    assert bucket.apply(clients, step.desired, planned) == []


def test_plan_does_not_create(minio):
    clients = Clients.connect(settings_for(minio))
    (report,) = converge([bucket.step("bucket-plan")], clients, plan=True)
    assert report.status is Status.CREATED and not report.verified
    assert not minio.client().bucket_exists("bucket-plan")
