"""The signer's staging objects expire: a lifecycle rule on ``.minio-stack/staging/``.

A single PUT and a form upload land on their intent's own staging key; ``complete`` copies
what it accepted to the object key and deletes the staged copy. What a client uploads and
never completes, or uploads again with a URL it still holds after complete or abort, stays
behind in staging. Nothing ever reads it (downloads refuse the prefix), so storage removes it:
a rule ``minio-stack-expire-staging`` expires objects under the prefix after ``DAYS``.

``DAYS`` is the longest an intent token can live (SigV4's 7-day ceiling on any lifetime the
signer grants) plus a day, so a staged upload is never removed while its ``complete`` may
still come. Every server applies Expiration rules, MinIO included, so this one step serves
them all; the rule joins the bucket's other rules (lifecycle.py) without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, Rule

from bootstrap import lifecycle
from bootstrap.s3 import Clients
from bootstrap.step import Change, Kind, Step, VerifyError
from common.s3vocab import STAGING_PREFIX

RULE_ID = "minio-stack-expire-staging"
DAYS = 8


@dataclass(frozen=True)
class Desired:
    bucket: str
    days: int = DAYS


def expire_rule(days: int) -> Rule:
    return Rule(
        ENABLED,
        rule_filter=Filter(prefix=STAGING_PREFIX),
        rule_id=RULE_ID,
        expiration=Expiration(days=days),
    )


def _described(rule: Rule | None) -> str | None:
    if rule is None:
        return None
    days = rule.expiration.days if rule.expiration else None
    prefix = rule.rule_filter.prefix if rule.rule_filter else None
    return f"expire {prefix} after {days}d ({rule.status})"


def read(clients: Clients, desired: Desired) -> tuple[Rule, ...]:
    return lifecycle.read_rules(clients, desired.bucket)


def diff(current: tuple[Rule, ...], desired: Desired) -> list[Change]:
    ours = lifecycle.find(current, RULE_ID)
    want = _described(expire_rule(desired.days))
    if _described(ours) == want:
        return []
    what = f"lifecycle rule {RULE_ID} of {desired.bucket}"
    kind = Kind.CREATE if ours is None else Kind.UPDATE
    return [Change(kind, what, _described(ours), want)]


def apply(clients: Clients, desired: Desired, changes: list[Change]) -> list[Change]:
    if changes:
        lifecycle.put_rule(clients, desired.bucket, expire_rule(desired.days))
    return changes


def observe(current: tuple[Rule, ...]) -> dict[str, Any]:
    ours = lifecycle.find(current, RULE_ID)
    return {
        "prefix": STAGING_PREFIX,
        "expire_after_days": ours.expiration.days if ours and ours.expiration else None,
        "other_rules": sum(1 for r in current if r.rule_id != RULE_ID),
    }


def verify(clients: Clients, desired: Desired) -> dict[str, Any]:
    current = read(clients, desired)
    if diff(current, desired):
        raise VerifyError(f"the server reads back no {RULE_ID} rule of {desired.days}d")
    return observe(current)


def step(bucket: str) -> Step[tuple[Rule, ...], Desired]:
    return Step("staging", bucket, Desired(bucket), read, diff, apply, verify, observe)
