"""Objects are encrypted at rest: the bucket's default encryption is SSE-S3 (AES256).

One mechanism on every server: PutBucketEncryption with a single SSE-S3 rule, after which the
server encrypts each new object, whatever header the client sent. Objects already in the bucket
stay as they were written. Another default (``aws:kms``) is replaced: the declared state is the
whole truth, as for CORS.

SSE-S3 needs a key. On MinIO that is its KMS, which the kit gives MinIO's built-in static key
(``MINIO_KMS_SECRET_KEY``, settings.minio_kms_key); without a KMS MinIO answers NotImplemented
to the write. So on MinIO ``read`` also asks the admin API for the KMS key's status (a GET that
only encrypts and decrypts a throwaway key in memory): a missing or broken KMS fails the step
while planning, before anything is written, naming the variable. Other servers hold their own
key (docs/capabilities.md); one that cannot encrypt fails when the rule is written.

``verify`` does not trust the stored rule alone: it writes a real probe object *without* an
encryption header, HEADs it for ``x-amz-server-side-encryption: AES256`` (the default at work),
reads it back (the key decrypts what it encrypted) and deletes it.

``BUCKET_ENCRYPTION=off`` skips the step (converge.py): the bucket stays as it is found and no
KMS is needed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from minio.error import MinioAdminException, S3Error
from minio.sseconfig import Rule, SSEConfig

from bootstrap.s3 import PROBE_PREFIX, Clients, admin_status, is_code, put_bytes, read_bytes
from bootstrap.settings import KMS_KEY_HINT, KMS_KEY_VAR
from bootstrap.step import Change, Kind, Step, VerifyError
from common.errors import PermanentError

AES256 = "AES256"
SSE_HEADER = "x-amz-server-side-encryption"
NO_KMS_HINT = (
    f"start MinIO with {KMS_KEY_VAR} ({KMS_KEY_HINT}) and keep a copy of it: without it the "
    "data cannot be read; or set BUCKET_ENCRYPTION=off"
)
_PROBE_DATA = b"minio-stack encryption probe"


@dataclass(frozen=True)
class Desired:
    bucket: str
    minio: bool  # check MinIO's KMS while planning


@dataclass(frozen=True)
class Current:
    algorithm: str | None = None  # the default rule's SSEAlgorithm; None: no default
    rule_key: str | None = None  # the rule's KMSMasterKeyID (aws:kms only)
    kms_key: str | None = None  # MinIO: the name of the KMS key it encrypts with


def minio_kms_key(clients: Clients) -> str:
    """The name of MinIO's working KMS key; PermanentError when MinIO has none or it fails."""
    try:
        status = json.loads(clients.retry(clients.admin.kms_key_status))
    except MinioAdminException as exc:
        if admin_status(exc) == 501:  # MinIO's ErrKMSNotConfigured
            raise PermanentError(
                "MinIO has no KMS, so it cannot encrypt objects at rest (SSE-S3)",
                hint=NO_KMS_HINT,
            ) from None
        raise
    name = str(status.get("key-id") or "")
    failed = status.get("encryption-error") or status.get("decryption-error")
    if failed:
        raise PermanentError(
            f"MinIO's KMS key {name!r} does not work: {failed}",
            hint=f"check {KMS_KEY_VAR}, or MinIO's other MINIO_KMS_* settings",
        )
    return name


def read(clients: Clients, desired: Desired) -> Current:
    kms_key = minio_kms_key(clients) if desired.minio else None
    try:
        config = clients.retry(clients.s3.get_bucket_encryption, desired.bucket)
    except S3Error as exc:
        if is_code(exc, "NoSuchBucket"):
            return Current(kms_key=kms_key)
        raise
    rule = config.rule if config else None
    if rule is None:
        return Current(kms_key=kms_key)
    return Current(rule.sse_algorithm, rule.kms_master_key_id, kms_key)


def _shown(current: Current) -> str:
    if current.algorithm is None:
        return "none"
    return current.algorithm + (f" ({current.rule_key})" if current.rule_key else "")


def diff(current: Current, desired: Desired) -> list[Change]:
    if (current.algorithm or "").upper() == AES256:
        return []
    what = f"default encryption of bucket {desired.bucket}"
    after = f"SSE-S3, {AES256}"
    if current.algorithm is None:
        return [Change(Kind.CREATE, what, None, after)]
    return [Change(Kind.UPDATE, what, _shown(current), after)]


def apply(clients: Clients, desired: Desired, changes: list[Change]) -> list[Change]:
    if not changes:
        return []
    try:
        clients.retry(
            clients.s3.set_bucket_encryption, desired.bucket, SSEConfig(Rule.new_sse_s3_rule())
        )
    except S3Error as exc:
        if is_code(exc, "NotImplemented"):
            raise PermanentError(
                f"the server cannot encrypt objects at rest: {exc.code}: {exc.message}",
                hint="give the server an encryption key (MinIO: "
                f"{KMS_KEY_VAR}), or set BUCKET_ENCRYPTION=off",
            ) from None
        raise
    return changes


def verify(clients: Clients, desired: Desired) -> dict[str, Any]:
    current = read(clients, desired)
    if diff(current, desired):
        raise VerifyError(
            f"bucket {desired.bucket} reads back default encryption {_shown(current)}, not SSE-S3"
        )
    s3, bucket = clients.s3, desired.bucket
    # Written without an encryption header: only the bucket's default can encrypt it.
    key = f"{PROBE_PREFIX}encryption-probe-{secrets.token_hex(6)}"
    clients.retry(put_bytes, s3, bucket, key, _PROBE_DATA)
    try:
        stat = clients.retry(s3.stat_object, bucket, key)
        data = clients.retry(read_bytes, s3, bucket, key)
    finally:
        clients.retry(s3.remove_object, bucket, key)
    got = (stat.metadata or {}).get(SSE_HEADER)
    if got != AES256:
        stored = f"with {SSE_HEADER}: {got}" if got else "unencrypted"
        raise VerifyError(
            f"a new object in {bucket} was stored {stored}, not {AES256}",
            hint="the server keeps the rule but does not apply it; check its encryption support",
        )
    if data != _PROBE_DATA:
        raise VerifyError(f"an encrypted object in {bucket} read back as other bytes")
    return {**observe(current), "new_object": {SSE_HEADER: got, "read_back": True}}


def observe(current: Current) -> dict[str, Any]:
    out: dict[str, Any] = {"algorithm": current.algorithm}
    if current.rule_key:
        out["rule_key"] = current.rule_key
    if current.kms_key is not None:
        out["kms_key"] = current.kms_key  # the key's name, never its bytes
    return out


def step(bucket: str, *, minio: bool) -> Step[Current, Desired]:
    return Step("encryption", bucket, Desired(bucket, minio), read, diff, apply, verify, observe)
