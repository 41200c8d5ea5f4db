"""bucket: created when missing; a concurrent creation is success."""

from __future__ import annotations

import urllib3

from bootstrap import bucket
from bootstrap.converge import converge
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.step import Kind
from tests.bootstrap.conftest import CountingPool, settings_for


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


class LostAnswerPool(CountingPool):
    """The real pool, except that the answer to the first PUT of a bucket is lost after
    the server acted on it: a temporary error, as MinIO's SlowDownWrite for a create that went
    through on a distributed cluster was."""

    lost = 0

    def urlopen(self, method, url, redirect=True, **kw):  # noqa: ANN001 - urllib3's signature
        answer = super().urlopen(method, url, redirect=redirect, **kw)
        if method == "PUT" and url.rstrip("/").endswith("/bucket-lost") and not self.lost:
            self.lost += 1
            raise urllib3.exceptions.ProtocolError("answer lost (by the test's pool)")
        return answer


def test_a_create_whose_answer_was_lost_is_reported_as_created(minio):
    # Before: the retried create answered BucketAlreadyOwnedByYou and the run reported
    # "unchanged (a concurrent bootstrap made the change first)" for its own creation.
    pool = LostAnswerPool()
    clients = Clients.connect(settings_for(minio), http=pool)
    (report,) = converge([bucket.step("bucket-lost")], clients, plan=False)
    assert pool.lost == 1
    assert report.status is Status.CREATED and report.verified


def test_plan_does_not_create(minio):
    clients = Clients.connect(settings_for(minio))
    (report,) = converge([bucket.step("bucket-plan")], clients, plan=True)
    assert report.status is Status.CREATED and not report.verified
    assert not minio.client().bucket_exists("bucket-plan")
