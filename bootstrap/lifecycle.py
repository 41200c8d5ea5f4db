"""A bucket's lifecycle configuration, shared by the steps that each own one rule of it.

S3 stores a bucket's lifecycle as one document, but two steps manage a rule each (``uploads``:
abort stale multipart uploads on servers other than MinIO; ``staging``: expire the signer's
staging objects). Every step is planned before any applies, so a rule list computed at plan
time would be stale by the time the second step writes: ``put_rule`` therefore reads the
document again right before writing and replaces only its own rule, keeping every other rule
(the user's included) as it is.
"""

from __future__ import annotations

from minio.error import S3Error
from minio.lifecycleconfig import LifecycleConfig, Rule

from bootstrap.s3 import Clients, is_code


def read_rules(clients: Clients, bucket: str) -> tuple[Rule, ...]:
    """The bucket's rules; none for a bucket without a lifecycle (or no bucket yet, in --plan)."""
    try:
        config = clients.retry(clients.s3.get_bucket_lifecycle, bucket)
    except S3Error as exc:
        if is_code(exc, "NoSuchBucket", "NoSuchLifecycleConfiguration"):
            return ()
        raise
    return tuple(config.rules) if config else ()


def find(rules: tuple[Rule, ...], rule_id: str) -> Rule | None:
    return next((rule for rule in rules if rule.rule_id == rule_id), None)


def put_rule(clients: Clients, bucket: str, rule: Rule) -> None:
    """Write ``rule`` into the bucket's lifecycle, replacing the rule with its id only."""
    current = read_rules(clients, bucket)
    merged = [r for r in current if r.rule_id != rule.rule_id] + [rule]
    clients.retry(clients.s3.set_bucket_lifecycle, bucket, LifecycleConfig(merged))
