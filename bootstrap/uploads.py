"""Abandoned multipart uploads are cleaned up after MULTIPART_ABORT_AFTER.

Browsers that start a multipart upload and go away leave parts that use disk but belong to
no object. Two mechanisms, picked by the server:

* MinIO ignores the lifecycle action AbortIncompleteMultipartUpload (minio/minio#15681,
  #19115); it expires stale uploads itself after ``api stale_uploads_expiry`` (default 24h,
  server-wide; see minio_api.py). The value is written as a Go duration (``24h``, ``90m``):
  settings.py validated it already, since a value MinIO cannot parse stops it from booting.
* Other S3 servers get a lifecycle rule ``minio-stack-abort-incomplete-uploads`` with
  AbortIncompleteMultipartUpload DaysAfterInitiation = ceil(days), merged into the bucket's
  existing rules: other rules are kept as they are, never clobbered.

``verify`` reads back what the server really holds (on MinIO, after a write; a run that
wrote nothing already holds the server's value from planning: see minio_api.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, Rule

from bootstrap import lifecycle, minio_api
from bootstrap.minio_api import ApiConfig, ApiValue
from bootstrap.s3 import Clients
from bootstrap.step import Change, Kind, Step, VerifyError
from common.envconfig import format_duration, parse_duration
from common.errors import PermanentError

RULE_ID = "minio-stack-abort-incomplete-uploads"
MINIO_DEFAULT = 24 * 3600.0  # what MinIO uses when stale_uploads_expiry is unset


# --- MinIO: the api stale_uploads_expiry setting ------------------------------------------------


@dataclass(frozen=True)
class MinioDesired:
    seconds: float
    api: ApiConfig  # all managed api keys: every write carries them (minio_api.py says why)

    @property
    def value(self) -> str:
        return format_duration(self.seconds)


def seconds_of(value: str | None) -> float | None:
    """A Go duration as MinIO stores it (``24h``, ``1h30m0s``), or None when unreadable."""
    if not value:
        return MINIO_DEFAULT
    try:
        return parse_duration(value)
    except ValueError:
        return None


def minio_read(clients: Clients, desired: MinioDesired) -> ApiValue:
    return minio_api.read_for_run(clients)[minio_api.STALE_UPLOADS_EXPIRY]


def minio_diff(current: ApiValue, desired: MinioDesired) -> list[Change]:
    if seconds_of(current.effective) == desired.seconds:
        return []
    name = minio_api.env_name(minio_api.STALE_UPLOADS_EXPIRY)
    if current.env is not None:
        raise PermanentError(
            f"{name}={current.env} is set in MinIO's environment and overrides the admin config",
            hint=f"unset {name} where MinIO runs, or set MULTIPART_ABORT_AFTER={current.env}",
        )
    return [Change(Kind.UPDATE, "api stale_uploads_expiry", current.effective, desired.value)]


def minio_verify(clients: Clients, desired: MinioDesired) -> dict[str, Any]:
    current = minio_read(clients, desired)  # read again only if this run wrote the config
    if seconds_of(current.effective) != desired.seconds:
        raise VerifyError(
            f"MinIO reads back stale_uploads_expiry={current.effective}, not {desired.value}"
        )
    return minio_observe(current)


def minio_observe(current: ApiValue) -> dict[str, Any]:
    return {**current.observe(), "seconds": seconds_of(current.effective)}


def minio_step(seconds: float, api: ApiConfig) -> Step[ApiValue, MinioDesired]:
    desired = MinioDesired(seconds, api)
    return Step(
        "uploads",
        "server",
        desired,
        minio_read,
        minio_diff,
        minio_api.apply_step,
        minio_verify,
        minio_observe,
    )


# --- other S3 servers: a lifecycle rule -----------------------------------------------------------


@dataclass(frozen=True)
class LifecycleDesired:
    bucket: str
    days: int


def abort_rule(days: int) -> Rule:
    return Rule(
        ENABLED,
        rule_filter=Filter(prefix=""),
        rule_id=RULE_ID,
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(days),
    )


def _days(rule: Rule) -> int | None:
    abort = rule.abort_incomplete_multipart_upload
    return abort.days_after_initiation if abort else None


def lifecycle_read(clients: Clients, desired: LifecycleDesired) -> tuple[Rule, ...]:
    return lifecycle.read_rules(clients, desired.bucket)


def _is_ours_and_right(rule: Rule, days: int) -> bool:
    prefix = rule.rule_filter.prefix if rule.rule_filter else None
    return rule.status == ENABLED and _days(rule) == days and prefix in ("", None)


def lifecycle_diff(current: tuple[Rule, ...], desired: LifecycleDesired) -> list[Change]:
    ours = lifecycle.find(current, RULE_ID)
    if ours is not None and _is_ours_and_right(ours, desired.days):
        return []
    what = f"lifecycle rule {RULE_ID} of {desired.bucket}"
    after = f"abort after {desired.days}d"
    if ours is None:
        return [Change(Kind.CREATE, what, None, after)]
    return [Change(Kind.UPDATE, what, f"abort after {_days(ours)}d ({ours.status})", after)]


def lifecycle_apply(
    clients: Clients, desired: LifecycleDesired, changes: list[Change]
) -> list[Change]:
    if changes:
        lifecycle.put_rule(clients, desired.bucket, abort_rule(desired.days))
    return changes


def lifecycle_verify(clients: Clients, desired: LifecycleDesired) -> dict[str, Any]:
    current = lifecycle_read(clients, desired)
    if lifecycle_diff(current, desired):
        raise VerifyError(f"the server reads back no {RULE_ID} rule of {desired.days}d")
    return lifecycle_observe(current)


def lifecycle_observe(current: tuple[Rule, ...]) -> dict[str, Any]:
    ours = lifecycle.find(current, RULE_ID)
    return {
        "abort_after_days": _days(ours) if ours else None,
        "other_rules": sum(1 for r in current if r.rule_id != RULE_ID),
    }


def lifecycle_step(bucket: str, days: int) -> Step[tuple[Rule, ...], LifecycleDesired]:
    return Step(
        "uploads",
        bucket,
        LifecycleDesired(bucket, days),
        lifecycle_read,
        lifecycle_diff,
        lifecycle_apply,
        lifecycle_verify,
        lifecycle_observe,
    )
