"""identity: the signer's IAM user and least-privilege policy, checked by acting as the signer."""

from __future__ import annotations

import io
import json

import pytest
from minio.error import S3Error

from bootstrap import bucket, identity
from bootstrap.converge import converge, run
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.settings import Credentials
from bootstrap.step import Kind
from minio import Minio
from tests.bootstrap.conftest import CountingPool, settings_for

SIGNER = Credentials("signer-x", "signer-secret-x1")


def desired(b: str = "uploads", signer: Credentials = SIGNER) -> identity.Desired:
    name = f"minio-stack-signer-{b}"
    return identity.Desired(b, signer, name, frozenset({name}), frozenset({b}))


def signer_client(server, creds: Credentials) -> Minio:
    return Minio(server.host, creds.access_key, creds.secret_key, secure=False, region="us-east-1")


# --- pure -------------------------------------------------------------------------------------


def test_policy_is_exactly_least_privilege():
    doc = identity.policy_document("uploads")
    grants = {(a, r) for s in doc["Statement"] for a in s["Action"] for r in s["Resource"]}
    objects, whole = "arn:aws:s3:::uploads/*", "arn:aws:s3:::uploads"
    assert grants == {
        ("s3:PutObject", objects),
        ("s3:GetObject", objects),
        ("s3:DeleteObject", objects),
        ("s3:AbortMultipartUpload", objects),
        ("s3:ListMultipartUploadParts", objects),
        ("s3:ListBucketMultipartUploads", whole),
        ("s3:ListBucket", whole),
    }
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in doc["Statement"])


def test_normalise_policy_ignores_order_and_spelling():
    doc = identity.policy_document("uploads")
    shuffled = {
        "Version": "2012-10-17",
        "Statement": [
            {
                **doc["Statement"][1],
                "Sid": "x",
                "Action": list(reversed(doc["Statement"][1]["Action"])),
            },
            doc["Statement"][0],
        ],
    }
    assert identity.normalise_policy(shuffled) == identity.normalise_policy(doc)
    wider = json.loads(json.dumps(doc))
    wider["Statement"][0]["Action"].append("s3:PutBucketPolicy")
    assert identity.normalise_policy(wider) != identity.normalise_policy(doc)


def test_diff_fresh_creates_everything():
    changes = identity.diff(identity.Current(), desired())
    assert [(c.kind, c.what) for c in changes] == [
        (Kind.CREATE, "policy minio-stack-signer-uploads"),
        (Kind.CREATE, "user signer-x"),
        (Kind.CREATE, "attachment of minio-stack-signer-uploads to signer-x"),
    ]
    assert all(SIGNER.secret_key not in str(c.to_json()) for c in changes)


def good(**kw) -> identity.Current:
    base = {
        "policy": identity.policy_document("uploads"),
        "user_status": "enabled",
        "secret_matches": True,
        "attached": frozenset({"minio-stack-signer-uploads"}),
    }
    return identity.Current(**{**base, **kw})


def test_diff_unchanged_when_as_declared():
    assert identity.diff(good(), desired()) == []


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (good(secret_matches=False), [(Kind.UPDATE, "secret of signer-x")]),
        (good(user_status="disabled", secret_matches=None), [(Kind.UPDATE, "user signer-x")]),
        (
            good(attached=frozenset({"minio-stack-signer-uploads", "readwrite"})),
            [(Kind.DELETE, "attachment of readwrite to signer-x")],
        ),
        (good(policy={"Statement": []}), [(Kind.UPDATE, "policy minio-stack-signer-uploads")]),
    ],
    ids=["secret", "disabled", "extra-policy", "policy-differs"],
)
def test_diff_changes_only_what_differs(current, expected):
    assert [(c.kind, c.what) for c in identity.diff(current, desired())] == expected


# --- real MinIO -----------------------------------------------------------------------------------


def converge_identity(server, d: identity.Desired, http=None):
    clients = Clients.connect(settings_for(server), http)
    return converge(
        [
            bucket.step(d.bucket),
            identity.step(d.bucket, d.signer, d.policy_name, d.policies, d.buckets),
        ],
        clients,
        plan=False,
    )


def test_signer_identity_created_verified_then_unchanged(minio):
    minio.client().make_bucket("identity-other")  # another bucket the signer must not read
    d = desired("identity-a", Credentials("signer-a", "signer-a-secret"))
    _, first = converge_identity(minio, d)
    assert first.status is Status.CREATED and first.verified, first
    assert first.observed["cannot"] == [
        "list-other-buckets", "read-other-bucket", "change-bucket-policy", "change-iam-policies",
    ]  # fmt: skip
    info = json.loads(minio.admin().user_info("signer-a"))
    assert info["status"] == "enabled" and info["policyName"] == "minio-stack-signer-identity-a"

    # Checked again here, independently of verify(): the signer acts as the signer.
    s3 = signer_client(minio, d.signer)
    s3.put_object("identity-a", "k", io.BytesIO(b"v"), 1)
    assert s3.get_object("identity-a", "k").read() == b"v"
    with pytest.raises(S3Error) as missing:
        s3.stat_object("identity-a", "no-such-key")
    assert missing.value.code == "NoSuchKey"  # 404, thanks to s3:ListBucket
    with pytest.raises(S3Error) as other:
        s3.get_object("identity-other", "k")
    assert other.value.code == "AccessDenied"
    assert {b.name for b in s3.list_buckets()} == {"identity-a"}
    s3.remove_object("identity-a", "k")
    assert not list(minio.client().list_objects("identity-a", recursive=True))  # probes cleaned

    pool = CountingPool()
    _, second = converge_identity(minio, d, http=pool)
    assert second.status is Status.UNCHANGED and second.verified
    assert pool.writes_by(minio.access_key) == []  # no user_add: the secret was not rewritten


def test_secret_rewritten_only_when_it_differs(minio):
    d = desired("identity-b", Credentials("signer-b", "signer-b-secret-1"))
    converge_identity(minio, d)
    rotated = desired("identity-b", Credentials("signer-b", "signer-b-secret-2"))
    _, report = converge_identity(minio, rotated)
    assert report.status is Status.CHANGED
    assert [c.what for c in report.changes] == ["secret of signer-b"]
    assert signer_client(minio, rotated.signer).bucket_exists("identity-b")
    with pytest.raises(S3Error):
        signer_client(minio, d.signer).get_object("identity-b", "x")


def test_extra_policies_detached_and_disabled_user_enabled(minio):
    d = desired("identity-c", Credentials("signer-c", "signer-c-secret"))
    converge_identity(minio, d)
    admin = minio.admin()
    admin.attach_policy(["readwrite"], user="signer-c")
    admin.user_disable("signer-c")
    _, report = converge_identity(minio, d)
    assert report.status is Status.CHANGED, report
    assert {c.what for c in report.changes} == {
        "user signer-c",
        "attachment of readwrite to signer-c",
    }
    info = json.loads(admin.user_info("signer-c"))
    assert info["status"] == "enabled" and info["policyName"] == "minio-stack-signer-identity-c"


def test_identity_survives_root_rotation(fresh_minio):
    settings = settings_for(fresh_minio)
    assert run(settings).ok
    signer = settings.buckets[0].signer
    fresh_minio.stop()
    fresh_minio.access_key, fresh_minio.secret_key = "root-rotated", "rotated-secret-123"
    fresh_minio.start()
    s3 = signer_client(fresh_minio, signer)
    s3.put_object("uploads", "after-rotation", io.BytesIO(b"ok"), 2)
    assert s3.get_object("uploads", "after-rotation").read() == b"ok"
    report = run(settings_for(fresh_minio))
    assert report.ok and all(s.status is Status.UNCHANGED for s in report.steps), str(report)
