"""The staging step: storage expires what the signer staged and never promoted."""

from __future__ import annotations

from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from bootstrap import lifecycle, staging
from bootstrap.converge import converge
from bootstrap.report import Status
from bootstrap.s3 import Clients
from bootstrap.step import Change, Kind, Step
from common.s3vocab import STAGING_PREFIX
from tests.bootstrap.conftest import settings_for

KEEP = Rule(
    ENABLED,
    rule_filter=Filter(prefix="logs/"),
    rule_id="expire-logs",
    expiration=Expiration(days=30),
)


def test_the_rule_covers_exactly_the_staging_prefix_for_longer_than_any_intent() -> None:
    rule = staging.expire_rule(staging.DAYS)
    assert rule.rule_filter.prefix == STAGING_PREFIX == ".minio-stack/staging/"
    assert rule.expiration.days == 8  # 7 days (SigV4's longest lifetime) plus one


def test_diff_creates_then_updates_a_wrong_rule() -> None:
    desired = staging.Desired("b")
    (create,) = staging.diff((KEEP,), desired)
    assert create.kind is Kind.CREATE and create.before is None
    assert create.after == f"expire {STAGING_PREFIX} after 8d (Enabled)"
    (update,) = staging.diff((KEEP, staging.expire_rule(1)), desired)
    assert update.kind is Kind.UPDATE and "after 1d" in update.before
    assert staging.diff((staging.expire_rule(8), KEEP), desired) == []


def test_converged_on_a_real_server_beside_the_users_rules(fresh_minio) -> None:
    client = fresh_minio.client()
    client.make_bucket("staged")
    client.set_bucket_lifecycle("staged", LifecycleConfig([KEEP]))
    clients = Clients.connect(settings_for(fresh_minio))
    (report,) = converge([staging.step("staged")], clients, plan=False)
    assert report.status is Status.CREATED and report.verified
    assert report.observed == {"prefix": STAGING_PREFIX, "expire_after_days": 8, "other_rules": 1}
    rules = {r.rule_id for r in client.get_bucket_lifecycle("staged").rules}
    assert rules == {"expire-logs", staging.RULE_ID}
    (again,) = converge([staging.step("staged")], clients, plan=False)
    assert again.status is Status.UNCHANGED


def test_plan_writes_nothing(fresh_minio) -> None:
    client = fresh_minio.client()
    client.make_bucket("planned")
    clients = Clients.connect(settings_for(fresh_minio))
    (report,) = converge([staging.step("planned")], clients, plan=True)
    assert report.status is Status.CREATED and not report.verified
    assert lifecycle.read_rules(clients, "planned") == ()


def _keep_step(bucket: str) -> Step[tuple[Rule, ...], None]:
    """A step owning the user-like rule KEEP, written the way every lifecycle step writes."""

    def diff(current: tuple[Rule, ...], desired: None) -> list[Change]:
        return [] if lifecycle.find(current, KEEP.rule_id) else [Change(Kind.CREATE, "keep")]

    def apply(clients: Clients, desired: None, changes: list[Change]) -> list[Change]:
        lifecycle.put_rule(clients, bucket, KEEP)
        return changes

    return Step(
        "keep",
        bucket,
        None,
        lambda clients, desired: lifecycle.read_rules(clients, bucket),
        diff,
        apply,
        lambda clients, desired: {},
        lambda current: {},
    )


def test_two_steps_planned_together_keep_each_others_rule(fresh_minio) -> None:
    # Every step reads the lifecycle before any writes (all are planned first): the second
    # write must not drop the rule the first one wrote. ``uploads``' own rule is for servers
    # other than MinIO (MinIO ignores AbortIncompleteMultipartUpload), so a user-like rule
    # stands in for the first step here.
    fresh_minio.client().make_bucket("both")
    clients = Clients.connect(settings_for(fresh_minio))
    reports = converge([_keep_step("both"), staging.step("both")], clients, plan=False)
    assert [r.status for r in reports] == [Status.CREATED, Status.CREATED]
    rules = {r.rule_id for r in lifecycle.read_rules(clients, "both")}
    assert rules == {KEEP.rule_id, staging.RULE_ID}
