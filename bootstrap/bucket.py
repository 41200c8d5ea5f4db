"""The bucket exists.

Creating is the only change. Another bootstrap creating the same bucket at the same moment
answers ``BucketAlreadyOwnedByYou`` (or ``BucketAlreadyExists`` on servers that do not tell
the two apart); that is success, reported as unchanged. A bucket owned by someone else is
indistinguishable from that on such servers, so ``verify`` then checks we can really use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minio.error import S3Error

from bootstrap.s3 import PROBE_PREFIX, Clients, first_object, is_code
from bootstrap.step import Change, Kind, Step, VerifyError


@dataclass(frozen=True)
class Desired:
    name: str


@dataclass(frozen=True)
class Current:
    exists: bool = False


def read(clients: Clients, desired: Desired) -> Current:
    return Current(exists=clients.retry(clients.s3.bucket_exists, desired.name))


def diff(current: Current, desired: Desired) -> list[Change]:
    if current.exists:
        return []
    return [Change(Kind.CREATE, f"bucket {desired.name}")]


def apply(clients: Clients, desired: Desired, changes: list[Change]) -> list[Change]:
    if not changes:
        return []
    attempts = 0

    def create() -> None:
        nonlocal attempts
        attempts += 1
        clients.s3.make_bucket(desired.name)

    try:
        clients.retry(create)
    except S3Error as exc:
        if is_code(exc, "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            # On a retry, our own first attempt created it and its answer was lost (a
            # distributed MinIO can answer SlowDownWrite for a create that went through).
            return changes if attempts > 1 else []  # else: a concurrent bootstrap did
        raise
    return changes


def verify(clients: Clients, desired: Desired) -> dict[str, Any]:
    try:
        # A listing, not just a HEAD: it proves the root identity can use the bucket.
        clients.retry(first_object, clients.s3, desired.name, PROBE_PREFIX)
    except S3Error as exc:
        if is_code(exc, "NoSuchBucket"):
            raise VerifyError(f"bucket {desired.name} does not exist after creating it") from None
        if is_code(exc, "AccessDenied"):
            raise VerifyError(
                f"bucket {desired.name} exists but the root user cannot list it",
                hint="the name is taken by another account; choose another MINIO_BUCKET",
            ) from None
        raise
    return observe(Current(exists=True))


def observe(current: Current) -> dict[str, Any]:
    return {"exists": current.exists}


def step(name: str) -> Step[Current, Desired]:
    return Step("bucket", name, Desired(name), read, diff, apply, verify, observe)
