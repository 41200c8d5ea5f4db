"""The bucket is private: no bucket-policy statement lets anonymous users in.

Only statements that *allow* an anonymous principal (``"*"`` or ``{"AWS": "*"}``) are removed;
the rest of the policy is kept (and the policy deleted when nothing is left). ``verify`` does
not trust the policy read-back alone: it sends a real unauthenticated GET (object) and LIST
(bucket) and expects 403 from both. A 404 for the missing probe object would mean anonymous
reads pass the permission check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from minio.error import S3Error

from bootstrap.s3 import PROBE_PREFIX, Clients, is_code
from bootstrap.step import Change, Kind, Step, VerifyError

ANONYMOUS_PROBE_KEY = PROBE_PREFIX + "anonymous-probe"


@dataclass(frozen=True)
class Desired:
    bucket: str


@dataclass(frozen=True)
class Current:
    policy: dict[str, Any] | None = None  # None: the bucket has no policy (or does not exist)


def read(clients: Clients, desired: Desired) -> Current:
    try:
        text = clients.retry(clients.s3.get_bucket_policy, desired.bucket)
    except S3Error as exc:
        if is_code(exc, "NoSuchBucketPolicy", "NoSuchBucket"):
            return Current()
        raise
    return Current(json.loads(text) if text.strip() else None)


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _is_anonymous(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS", [])
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


def grants_anonymous(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Allow" and _is_anonymous(statement.get("Principal"))


def _actions(statements: list[dict[str, Any]]) -> list[str]:
    found: set[str] = set()
    for s in statements:
        action = s.get("Action", [])
        found.update([action] if isinstance(action, str) else action)
    return sorted(found)


def diff(current: Current, desired: Desired) -> list[Change]:
    if not current.policy:
        return []
    statements = _statements(current.policy)
    anonymous = [s for s in statements if grants_anonymous(s)]
    if not anonymous:
        return []
    before = "anonymous " + ", ".join(_actions(anonymous))
    rest = [s for s in statements if not grants_anonymous(s)]
    what = f"bucket policy of {desired.bucket}"
    if not rest:
        return [Change(Kind.DELETE, what, before, None)]
    return [
        Change(
            Kind.UPDATE, what, before, "no anonymous access", {**current.policy, "Statement": rest}
        )
    ]


def apply(clients: Clients, desired: Desired, changes: list[Change]) -> list[Change]:
    s3 = clients.s3
    for change in changes:
        if change.payload is None:
            clients.retry(s3.delete_bucket_policy, desired.bucket)
        else:
            clients.retry(s3.set_bucket_policy, desired.bucket, json.dumps(change.payload))
    return changes


def verify(clients: Clients, desired: Desired) -> dict[str, Any]:
    left = diff(read(clients, desired), desired)
    if left:
        raise VerifyError(f"bucket {desired.bucket} still allows {left[0].before}")
    get = clients.anonymous("GET", f"/{desired.bucket}/{ANONYMOUS_PROBE_KEY}").status_code
    listing = clients.anonymous("GET", f"/{desired.bucket}", params={"list-type": "2"}).status_code
    if get != 403 or listing != 403:
        raise VerifyError(
            f"anonymous requests to {desired.bucket} answered GET {get}, LIST {listing}; "
            "expected 403",
            hint="something other than the bucket policy grants anonymous access (an ACL, a proxy)",
        )
    return {"anonymous_statements": 0, "anonymous_get": get, "anonymous_list": listing}


def observe(current: Current) -> dict[str, Any]:
    anonymous = [s for s in _statements(current.policy or {}) if grants_anonymous(s)]
    return {"policy": current.policy is not None, "anonymous_statements": len(anonymous)}


def step(bucket: str) -> Step[Current, Desired]:
    return Step("privacy", bucket, Desired(bucket), read, diff, apply, verify, observe)
