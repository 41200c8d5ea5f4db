"""privacy: anonymous-granting statements removed, the rest kept, real anonymous GET/LIST → 403."""

from __future__ import annotations

import io
import json

import requests

from bootstrap import privacy
from bootstrap.converge import converge
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.step import Kind
from tests.bootstrap.conftest import settings_for


def statement(effect: str, principal, action: str, bucket: str = "b") -> dict:
    return {
        "Effect": effect,
        "Principal": principal,
        "Action": [action],
        "Resource": [f"arn:aws:s3:::{bucket}/*"],
    }


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_grants_anonymous():
    assert privacy.grants_anonymous(statement("Allow", "*", "s3:GetObject"))
    assert privacy.grants_anonymous(statement("Allow", {"AWS": "*"}, "s3:GetObject"))
    assert privacy.grants_anonymous(statement("Allow", {"AWS": ["*"]}, "s3:GetObject"))
    assert not privacy.grants_anonymous(statement("Deny", "*", "s3:GetObject"))
    assert not privacy.grants_anonymous(
        statement("Allow", {"AWS": ["arn:aws:iam::1:user/x"]}, "s3:GetObject")
    )


def test_diff_nothing_when_private():
    want = privacy.Desired("b")
    assert privacy.diff(privacy.Current(None), want) == []
    assert (
        privacy.diff(privacy.Current(policy(statement("Deny", "*", "s3:DeleteObject"))), want) == []
    )


def test_diff_deletes_a_fully_public_policy():
    current = privacy.Current(policy(statement("Allow", {"AWS": ["*"]}, "s3:GetObject")))
    (change,) = privacy.diff(current, privacy.Desired("b"))
    assert change.kind is Kind.DELETE and change.payload is None
    assert change.before == "anonymous s3:GetObject"


def test_diff_keeps_other_statements():
    deny = statement("Deny", "*", "s3:DeleteObject")
    current = privacy.Current(policy(statement("Allow", "*", "s3:GetObject"), deny))
    (change,) = privacy.diff(current, privacy.Desired("b"))
    assert change.kind is Kind.UPDATE
    assert change.payload["Statement"] == [deny]


def test_public_bucket_made_private_for_real(minio):
    bucket = "privacy-public"
    client = minio.client()
    client.make_bucket(bucket)
    client.put_object(bucket, "hello.txt", io.BytesIO(b"hi"), 2)
    public_read = statement("Allow", {"AWS": ["*"]}, "s3:GetObject", bucket)
    deny_delete = statement("Deny", {"AWS": ["*"]}, "s3:DeleteObject", bucket)
    client.set_bucket_policy(bucket, json.dumps(policy(public_read, deny_delete)))
    assert requests.get(f"{minio.endpoint}/{bucket}/hello.txt", timeout=10).status_code == 200

    clients = Clients.connect(settings_for(minio))
    (report,) = converge([privacy.step(bucket)], clients, plan=False)
    assert report.status is Status.CHANGED and report.verified
    assert report.observed == {
        "anonymous_statements": 0,
        "anonymous_get": 403,
        "anonymous_list": 403,
    }
    assert requests.get(f"{minio.endpoint}/{bucket}/hello.txt", timeout=10).status_code == 403
    assert requests.get(f"{minio.endpoint}/{bucket}?list-type=2", timeout=10).status_code == 403
    left = json.loads(client.get_bucket_policy(bucket))["Statement"]
    assert [s["Effect"] for s in left] == ["Deny"]  # the non-granting statement was kept

    (again,) = converge([privacy.step(bucket)], clients, plan=False)
    assert again.status is Status.UNCHANGED


def test_plan_does_not_touch_a_public_bucket(minio):
    bucket = "privacy-plan"
    client = minio.client()
    client.make_bucket(bucket)
    client.set_bucket_policy(
        bucket, json.dumps(policy(statement("Allow", "*", "s3:GetObject", bucket)))
    )
    clients = Clients.connect(settings_for(minio))
    (report,) = converge([privacy.step(bucket)], clients, plan=True)
    assert report.status is Status.CHANGED and not report.verified
    assert privacy.grants_anonymous(json.loads(client.get_bucket_policy(bucket))["Statement"][0])
