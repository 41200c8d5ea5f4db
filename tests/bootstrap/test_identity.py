"""identity: the signer's IAM user and least-privilege policy, checked by acting as the signer."""

from __future__ import annotations

import io
import json
import re

import pytest
from minio.credentials.providers import AssumeRoleProvider, StaticProvider
from minio.error import MinioAdminException, S3Error

from bootstrap import bucket, identity
from bootstrap.converge import converge, run
from bootstrap.report import Status
from bootstrap.s3 import Clients, error_code
from bootstrap.settings import Credentials
from bootstrap.step import Kind
from minio import Minio, MinioAdmin
from tests.bootstrap.conftest import CountingPool, env_for, run_cli, settings_for

SIGNER = Credentials("signer-x", "signer-secret-x1")


def desired(b: str = "uploads", signer: Credentials = SIGNER) -> identity.Desired:
    name = f"minio-stack-signer-{b}"
    return identity.Desired(b, signer, name, frozenset({name}), frozenset({b}))


def signer_client(server, creds: Credentials, session_token: str | None = None) -> Minio:
    return Minio(
        server.host,
        creds.access_key,
        creds.secret_key,
        session_token=session_token,
        secure=False,
        region="us-east-1",
    )


def signer_admin(server, creds: Credentials) -> MinioAdmin:
    provider = StaticProvider(creds.access_key, creds.secret_key)
    return MinioAdmin(endpoint=server.host, credentials=provider, secure=False)


def refusal(operation) -> str | None:
    """The error code ``operation`` fails with; None when it succeeds."""
    try:
        operation()
    except (S3Error, MinioAdminException) as exc:
        return error_code(exc)
    return None


# --- pure -------------------------------------------------------------------------------------


def test_policy_is_exactly_least_privilege():
    doc = identity.policy_document("uploads")
    allows = [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    grants = {(a, r) for s in allows for a in s["Action"] for r in s["Resource"]}
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
    # MinIO lets a user act on itself (a service account, its own secret) unless denied.
    denies = [s for s in doc["Statement"] if s["Effect"] != "Allow"]
    assert denies == [{"Effect": "Deny", "Action": ["admin:*"]}]
    assert all("Condition" not in s for s in doc["Statement"])


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
            doc["Statement"][2],
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
        (
            good(secret_matches=False, service_accounts=("svc-1",), sts_keys=("STS1", "STS2")),
            [
                (Kind.UPDATE, "secret of signer-x"),
                (Kind.DELETE, "service account svc-1 of signer-x"),
                (Kind.DELETE, "temporary key STS1 of signer-x"),
                (Kind.DELETE, "temporary key STS2 of signer-x"),
            ],
        ),
        (good(user_status="disabled", secret_matches=None), [(Kind.UPDATE, "user signer-x")]),
        (
            good(attached=frozenset({"minio-stack-signer-uploads", "readwrite"})),
            [(Kind.DELETE, "attachment of readwrite to signer-x")],
        ),
        (good(policy={"Statement": []}), [(Kind.UPDATE, "policy minio-stack-signer-uploads")]),
    ],
    ids=["secret", "secret-and-derived-keys", "disabled", "extra-policy", "policy-differs"],
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
        "use-admin-api-on-itself",
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


def test_signer_cannot_use_the_admin_api_on_itself(minio):
    d = desired("identity-d", Credentials("signer-d", "signer-d-secret"))
    _, report = converge_identity(minio, d)
    assert report.verified, report
    admin = signer_admin(minio, d.signer)
    created = refusal(lambda: admin.add_service_account(access_key="svc-d", secret_key="svc-d-x1"))
    assert created == "AccessDenied"
    assert refusal(lambda: admin.user_add("signer-d", "signer-d-other")) == "AccessDenied"
    assert refusal(lambda: admin.user_info("signer-d")) == "AccessDenied"
    assert json.loads(minio.admin().list_service_account("signer-d"))["accounts"] is None
    # What bootstrap itself asks as the signer (does its secret work?) still answers.
    assert json.loads(admin.account_info())["AccountName"] == "signer-d"


def plant_old_signer(server, d: identity.Desired) -> tuple[Minio, Minio, str]:
    """The signer as a deployment made before its policy denied admin actions holds it, with
    a service account and an STS key it minted for itself: (their clients, the STS key)."""
    root = server.admin()
    server.client().make_bucket(d.bucket)
    old = identity.policy_document(d.bucket)
    old["Statement"] = [s for s in old["Statement"] if s["Effect"] == "Allow"]
    root.policy_add(d.policy_name, policy=old)
    root.user_add(d.signer.access_key, d.signer.secret_key)
    root.attach_policy([d.policy_name], user=d.signer.access_key)
    account = Credentials(f"svc-{d.bucket}", "svc-secret-0123")
    signer_admin(server, d.signer).add_service_account(
        access_key=account.access_key, secret_key=account.secret_key
    )
    sts = AssumeRoleProvider(
        sts_endpoint=server.endpoint,
        access_key=d.signer.access_key,
        secret_key=d.signer.secret_key,
    ).retrieve()
    temporary = Credentials(sts.access_key, sts.secret_key)
    return (
        signer_client(server, account),
        signer_client(server, temporary, sts.session_token),
        sts.access_key,
    )


def test_verify_catches_a_signer_that_may_use_the_admin_api_on_itself(minio):
    # Guards the check in verify: a signer holding the policy without its Deny is caught.
    d = desired("identity-f", Credentials("signer-f", "signer-f-secret"))
    plant_old_signer(minio, d)
    with pytest.raises(identity.VerifyError, match="may use MinIO's admin API on itself"):
        identity._check_cannot(Clients.connect(settings_for(minio)), d)


def test_keys_derived_from_the_signer_are_found_and_removed(minio):
    d = desired("identity-e", Credentials("signer-e", "signer-e-secret-1"))
    service_account, temporary, sts_key = plant_old_signer(minio, d)

    def still_work() -> tuple[bool, bool]:
        return (
            refusal(lambda: service_account.bucket_exists("identity-e")) is None,
            refusal(lambda: temporary.bucket_exists("identity-e")) is None,
        )

    assert still_work() == (True, True)
    derived = {"service account svc-identity-e of signer-e", f"temporary key {sts_key} of signer-e"}
    policy = f"policy {d.policy_name}"

    clients = Clients.connect(settings_for(minio))
    steps = [identity.step(d.bucket, d.signer, d.policy_name, d.policies, d.buckets)]
    (planned,) = converge(steps, clients, plan=True)
    assert planned.status is Status.CHANGED
    assert {c.what for c in planned.changes} == {policy, *derived}
    assert still_work() == (True, True)  # --plan removed nothing

    # The operator resets the signer's secret: what the old one minted must go with it.
    reset = desired("identity-e", Credentials("signer-e", "signer-e-secret-2"))
    _, report = converge_identity(minio, reset)
    assert report.status is Status.CHANGED and report.verified, report
    assert {c.what for c in report.changes} == {policy, "secret of signer-e", *derived}
    assert still_work() == (False, False)
    assert report.observed["service_accounts"] == [] and report.observed["sts_keys"] == []

    _, again = converge_identity(minio, reset)
    assert again.status is Status.UNCHANGED and again.changes == (), again


def test_bootstrap_reports_the_removed_service_account(fresh_minio):
    env = env_for(fresh_minio)
    signer = Credentials(env["SIGNER_ACCESS_KEY"], env["SIGNER_SECRET_KEY"])
    service_account, _, _ = plant_old_signer(fresh_minio, desired("uploads", signer))
    removed = f"delete service account svc-uploads of {signer.access_key}"

    plan = run_cli(["bootstrap", "--plan"], env)
    assert plan.returncode == 0, plan.stderr
    lines = identity_lines(plan.stdout)
    assert "would change" in lines[0] and any(removed in x for x in lines), plan.stdout
    assert service_account.bucket_exists("uploads")  # --plan removed nothing

    result = run_cli(["bootstrap"], env)
    assert result.returncode == 0, result.stderr
    lines = identity_lines(result.stdout)
    assert "changed" in lines[0] and "(verified)" in lines[0], result.stdout
    assert any(removed in x for x in lines), result.stdout
    assert refusal(lambda: list(service_account.list_objects("uploads"))) == "InvalidAccessKeyId"

    second = run_cli(["bootstrap"], env)
    assert second.returncode == 0, second.stderr
    assert "unchanged" in identity_lines(second.stdout)[0], second.stdout
    assert re.search(r"(\d+) steps: \1 unchanged$", second.stdout.rstrip()), second.stdout


def identity_lines(text: str) -> list[str]:
    """The identity step's lines of a human report: its status line, then one per further
    change (indented under the first, which shares the status line)."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if x.lstrip().startswith("identity["))
    end = start + 1
    while end < len(lines) and lines[end].startswith("   "):
        end += 1
    return lines[start:end]
