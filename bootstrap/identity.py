"""The signer's least-privilege identity: a regular IAM user holding one canned policy per bucket.

A regular user, not a service account of root: service accounts belong to their parent and
are orphaned when the root credentials change; a user's keys survive root rotation.

MinIO never reveals a user's secret, and adding an existing user overwrites it, so ``read``
asks the server whether the declared secret works (an authenticated ``accountinfo`` call,
which any identity may make) and the secret is rewritten only when it really differs.
Policies attached to the user that it was not declared to hold are detached.

Keys derived from the user outlive a reset of its secret: a service account (MinIO lets any
user create one for itself unless a policy explicitly denies it) and temporary STS keys
(MinIO's AssumeRole checks no policy action at all, so no policy can deny it; they last up to
365 days). The policy denies every admin action, the self-service ones included, and ``read``
lists both kinds under the user so that ``apply`` removes them: after a run, the declared
secret is the only way in.

``verify`` acts as the signer: it can put, get and delete an object in its bucket, and a HEAD
of a missing key answers 404; it cannot list other buckets, read another bucket, or change
policies or use the admin API on itself (a service account). The probe object is removed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from minio.error import MinioAdminException, S3Error

from bootstrap.s3 import PROBE_PREFIX, Clients, error_code, first_object, put_bytes, read_bytes
from bootstrap.settings import Credentials
from bootstrap.step import Change, Kind, Step, VerifyError
from common.s3vocab import CREDENTIAL_CODES, NOT_FOUND_CODES
from minio import Minio

_OTHER_BUCKET = "minio-stack-verify-other"
_KEYS_MEMO = "identity.derived_keys"  # the key in Clients.memo, per user


def policy_document(bucket: str) -> dict[str, Any]:
    """Exactly what a presigning signer needs in one bucket, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Effect": "Allow",
                # s3:ListBucket makes a HEAD of a missing key answer 404 instead of 403: the
                # signer's not_found check depends on telling the two apart.
                "Action": ["s3:ListBucketMultipartUploads", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                # No allow grants an admin action, yet MinIO lets a user act on itself unless
                # a policy *denies* it: create a service account (which outlives a reset of
                # the user's secret), set its own secret, read its own info. The signer needs
                # no admin action, so all are denied, the self-service ones included.
                "Effect": "Deny",
                "Action": ["admin:*"],
            },
        ],
    }


def normalise_policy(doc: dict[str, Any] | None) -> frozenset[tuple[Any, ...]] | None:
    """Statements as a set, ignoring order, Sid and single-vs-list spelling."""
    if doc is None:
        return None

    def as_set(value: Any) -> frozenset[str]:
        return frozenset([value] if isinstance(value, str) else value or [])

    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return frozenset(
        (
            s.get("Effect"),
            as_set(s.get("Action")),
            as_set(s.get("NotAction")),
            as_set(s.get("Resource")),
            json.dumps(s.get("Condition"), sort_keys=True),
        )
        for s in statements
    )


@dataclass(frozen=True)
class Desired:
    bucket: str
    signer: Credentials
    policy_name: str
    policies: frozenset[str]  # every policy the user holds: one per bucket it serves
    buckets: frozenset[str]  # the buckets it serves

    @property
    def policy(self) -> dict[str, Any]:
        return policy_document(self.bucket)


@dataclass(frozen=True)
class Current:
    policy: dict[str, Any] | None = None  # None: the canned policy does not exist
    user_status: str | None = None  # None: the user does not exist
    secret_matches: bool | None = None  # None: unknown (no user, or disabled)
    attached: frozenset[str] = frozenset()
    service_accounts: tuple[str, ...] = ()  # access keys of service accounts under the user
    sts_keys: tuple[str, ...] = ()  # access keys of temporary (STS) credentials of the user


# MinIO admin routes minio-py 7.2 has no method for (madmin-go's ListAccessKeysBulk and
# RevokeTokens); Clients.admin_call signs and sends them. One bulk listing answers both kinds
# of derived key: minio-py's list_service_account would answer only one, and each encrypted
# answer costs an argon2id key derivation (0.1-0.3 s) to read.
_LIST_ACCESS_KEYS = "list-access-keys-bulk"
_REVOKE_TOKENS = "revoke-tokens/builtin"


def _admin_json(text: str) -> dict[str, Any]:
    return json.loads(text) if text.strip() else {}


def read(clients: Clients, desired: Desired) -> Current:
    admin = clients.admin
    try:
        policy = _admin_json(clients.retry(admin.policy_info, desired.policy_name))
    except MinioAdminException as exc:
        if error_code(exc) != "XMinioAdminNoSuchPolicy":
            raise
        policy = None
    try:
        info = _admin_json(clients.retry(admin.user_info, desired.signer.access_key))
    except MinioAdminException as exc:
        if error_code(exc) != "XMinioAdminNoSuchUser":
            raise
        return Current(policy)
    status = info.get("status")
    attached = frozenset(p for p in (info.get("policyName") or "").split(",") if p)
    matches = secret_works(clients, desired.signer) if status == "enabled" else None
    accounts, sts = _derived_keys_for_run(clients, desired.signer.access_key)
    return Current(policy, status, matches, attached, accounts, sts)


def _derived_keys_for_run(clients: Clients, user: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``derived_keys``, once per run until ``apply`` removes some (then once more), as
    minio_api reads its config: the answer is encrypted with a key argon2id derives on both
    sides, so verify reuses what planning read when nothing was removed since."""
    memo = f"{_KEYS_MEMO}:{user}"
    found = clients.memo.get(memo)
    if found is None:
        found = derived_keys(clients, user)
        clients.memo[memo] = found
    return cast(tuple[tuple[str, ...], tuple[str, ...]], found)


def derived_keys(clients: Clients, user: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(service accounts, STS keys) under ``user``: their access keys, sorted (no secrets)."""
    # MinIO encrypts the answer with root's secret; admin_call decrypts it.
    answer = clients.admin_call(
        "GET", _LIST_ACCESS_KEYS, {"users": user, "listType": "all"}, encrypted=True
    )
    keys = _admin_json(answer.decode()).get(user) or {}

    def access_keys(kind: str) -> tuple[str, ...]:
        return tuple(sorted(k["accessKey"] for k in keys.get(kind) or ()))

    return access_keys("serviceAccounts"), access_keys("stsKeys")


def secret_works(clients: Clients, signer: Credentials) -> bool:
    """Does the server accept the declared secret? (Its own answer; it never shows the secret.)"""
    try:
        clients.retry(clients.admin_as(signer).account_info)
    except MinioAdminException as exc:
        if error_code(exc) in CREDENTIAL_CODES:
            return False
        raise
    return True


def diff(current: Current, desired: Desired) -> list[Change]:
    """Changes carry their admin call in ``payload``: ("policy",), ("user",), ("attach", name)."""
    user = desired.signer.access_key
    policy = f"policy {desired.policy_name}"
    scope = f"object read/write in {desired.bucket}"
    changes: list[Change] = []
    if current.policy is None:
        changes.append(Change(Kind.CREATE, policy, None, scope, ("policy",)))
    elif normalise_policy(current.policy) != normalise_policy(desired.policy):
        changes.append(Change(Kind.UPDATE, policy, "other statements", scope, ("policy",)))
    if current.user_status is None:
        changes.append(Change(Kind.CREATE, f"user {user}", payload=("user",)))
    elif current.user_status != "enabled":
        changes.append(
            Change(Kind.UPDATE, f"user {user}", current.user_status, "enabled", ("user",))
        )
    elif current.secret_matches is False:
        changes.append(
            Change(Kind.UPDATE, f"secret of {user}", "differs", "SIGNER_SECRET_KEY", ("user",))
        )
    if desired.policy_name not in current.attached:
        what = f"attachment of {desired.policy_name} to {user}"
        changes.append(Change(Kind.CREATE, what, payload=("attach", desired.policy_name)))
    for extra in sorted(current.attached - desired.policies):
        what = f"attachment of {extra} to {user}"
        changes.append(Change(Kind.DELETE, what, payload=("detach", extra)))
    # Last, so a changed secret is in place before what an old secret could mint is removed.
    for account in current.service_accounts:
        what = f"service account {account} of {user}"
        changes.append(Change(Kind.DELETE, what, payload=("drop-account", account)))
    for key in current.sts_keys:
        what = f"temporary key {key} of {user}"
        changes.append(Change(Kind.DELETE, what, payload=("revoke-sts",)))
    return changes


def apply(clients: Clients, desired: Desired, changes: list[Change]) -> list[Change]:
    admin = clients.admin
    user = desired.signer.access_key
    made: list[Change] = []
    revoked = False
    for change in changes:
        op, *args = change.payload
        if op == "policy":
            clients.retry(admin.policy_add, desired.policy_name, policy=desired.policy)
        elif op == "user":
            # Creates the user, or re-enables it and sets its secret; attachments stay.
            clients.retry(admin.user_add, user, desired.signer.secret_key)
        elif op == "drop-account":
            clients.memo.pop(f"{_KEYS_MEMO}:{user}", None)  # verify reads the server again
            if not _drop_account(clients, args[0]):
                continue
        elif op == "revoke-sts":
            # One call revokes every STS key of the user; later changes are already done.
            if not revoked:
                clients.memo.pop(f"{_KEYS_MEMO}:{user}", None)
                clients.admin_call("POST", _REVOKE_TOKENS, {"user": user, "fullRevoke": "true"})
                revoked = True
        elif not _change_attachment(clients, op, args, user):
            continue
        made.append(change)
    return made


def _drop_account(clients: Clients, access_key: str) -> bool:
    """Remove a service account; False when it was already gone (a concurrent bootstrap)."""
    try:
        clients.retry(clients.admin.delete_service_account, access_key)
    except MinioAdminException as exc:
        if error_code(exc) == "XMinioInvalidIAMCredentials":
            return False
        raise
    return True


def _change_attachment(clients: Clients, op: str, policies: list[str], user: str) -> bool:
    """Attach or detach; False when a concurrent bootstrap did it first."""
    call = clients.admin.attach_policy if op == "attach" else clients.admin.detach_policy
    try:
        clients.retry(call, policies, user=user)
    except MinioAdminException as exc:
        if error_code(exc) == "XMinioAdminPolicyChangeAlreadyApplied":
            return False
        raise
    return True


def verify(clients: Clients, desired: Desired) -> dict[str, Any]:
    current = read(clients, desired)
    left = diff(current, desired)
    if left:
        raise VerifyError(f"after apply, still to do: {left[0]}")
    s3 = clients.s3_as(desired.signer)
    bucket = desired.bucket
    key = f"{PROBE_PREFIX}identity-probe-{secrets.token_hex(6)}"
    data = b"minio-stack signer identity probe"
    try:
        clients.retry(put_bytes, s3, bucket, key, data)
    except S3Error as exc:
        raise VerifyError(f"the signer cannot put an object in {bucket} ({exc.code})") from None
    try:
        if clients.retry(read_bytes, s3, bucket, key) != data:
            raise VerifyError(f"the signer read back other bytes from {bucket}/{key}")
        _check_missing_is_404(clients, s3, bucket)
    finally:
        clients.retry(s3.remove_object, bucket, key)
    cannot = _check_cannot(clients, desired)
    return {
        **observe(current),
        "can": ["put", "get", "delete", "head-missing-404"],
        "cannot": cannot,
    }


def _check_missing_is_404(clients: Clients, s3: Minio, bucket: str) -> None:
    try:
        clients.retry(s3.stat_object, bucket, f"{PROBE_PREFIX}missing-{secrets.token_hex(6)}")
    except S3Error as exc:
        if exc.code in NOT_FOUND_CODES:
            return
        raise VerifyError(
            f"a HEAD of a missing key answered {exc.code}, not NoSuchKey (404)",
            hint="the signer's policy needs s3:ListBucket on the bucket",
        ) from None
    raise VerifyError("a HEAD of a missing key succeeded")


def _denied(clients: Clients, operation: Callable[[], object]) -> bool:
    try:
        clients.retry(operation)
    except (S3Error, MinioAdminException) as exc:
        return error_code(exc) == "AccessDenied"
    return False


def _check_cannot(clients: Clients, desired: Desired) -> list[str]:
    s3 = clients.s3_as(desired.signer)
    # MinIO answers ListBuckets with the buckets an identity may use, so "cannot list all
    # buckets" means: the answer is a refusal or shows no bucket beyond its own.
    try:
        visible = {b.name for b in clients.retry(s3.list_buckets)}
    except S3Error as exc:
        if exc.code != "AccessDenied":
            raise
        visible = set()
    if visible - desired.buckets:
        raise VerifyError(
            f"the signer can list buckets it does not serve: {sorted(visible - desired.buckets)}"
        )
    others = sorted({b.name for b in clients.retry(clients.s3.list_buckets)} - desired.buckets)
    other = others[0] if others else _OTHER_BUCKET
    # AccessDenied (not NoSuchBucket) proves the policy refused before existence was checked.
    if not _denied(clients, lambda: first_object(s3, other)):
        raise VerifyError(f"the signer is not refused listing bucket {other}")
    if not _denied(clients, lambda: read_bytes(s3, other, "any")):
        raise VerifyError(f"the signer is not refused reading bucket {other}")
    if not _denied(clients, lambda: s3.delete_bucket_policy(desired.bucket)):
        raise VerifyError(f"the signer may change the bucket policy of {desired.bucket}")
    admin = clients.admin_as(desired.signer)
    if not _denied(clients, lambda: admin.policy_remove("minio-stack-verify-no-such-policy")):
        raise VerifyError("the signer may change IAM policies")
    # MinIO lets a user act on itself (read its info, set its secret, create a service
    # account) unless a policy denies it. The policy's one Deny of admin:* covers them all, so
    # the cheapest of them proves it holds; add-service-account would prove the same at the
    # cost of two argon2id key derivations (its body is encrypted), ~0.15 s on every run.
    user = desired.signer.access_key
    if not _denied(clients, lambda: admin.user_info(user)):
        raise VerifyError(
            "the signer may use MinIO's admin API on itself (e.g. create a service account)",
            hint=f"the policy {desired.policy_name} needs its Deny of admin:*",
        )
    return [
        "list-other-buckets",
        "read-other-bucket",
        "change-bucket-policy",
        "change-iam-policies",
        "use-admin-api-on-itself",
    ]


def observe(current: Current) -> dict[str, Any]:
    return {
        "policy": current.policy is not None,
        "user": current.user_status or "absent",
        "secret": {True: "matches", False: "differs", None: "unknown"}[current.secret_matches],
        "attached": sorted(current.attached),
        "service_accounts": list(current.service_accounts),
        "sts_keys": list(current.sts_keys),
    }


def step(
    bucket: str,
    signer: Credentials,
    policy_name: str,
    policies: frozenset[str],
    buckets: frozenset[str],
) -> Step[Current, Desired]:
    desired = Desired(bucket, signer, policy_name, policies, buckets)
    return Step("identity", bucket, desired, read, diff, apply, verify, observe)
