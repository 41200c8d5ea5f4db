"""``rotate-root``: give MinIO's root user a new password, prove it, or put the old one back.

Steps (each name appears in the journal, the report and the error line):

    check-current       the configured root credentials work (nothing is changed otherwise)
    inventory           every bucket's objects (key, version, size, ETag) and settings
    generate            a new 40-character password (and, with --new-user, the new name)
    apply               the journal is written, then the target's configuration
    restart             MinIO restarts with it (native: the stack; compose; Render deploy)
    wait-healthy        MinIO answers live → cluster → S3 API
    verify-new          the new credentials are accepted
    verify-old-refused  the old ones are refused
    verify-signer       the signer's own identity still works and reaches its buckets
    verify-inventory    nothing was lost or changed

Any failure from ``apply`` on rolls back: the old credentials are written back, MinIO is
restarted (unless it never stopped using them), and they are checked to work again.

The root user name is kept unless ``--new-user`` is given: service accounts belong to their
parent user, so renaming root orphans the ones root owns (minio/minio#17565), and anything
signed with root's keys stops verifying. Nothing the kit runs uses root's keys: the signer has
its own IAM user (bootstrap/identity.py), which a root rotation does not touch.

Crash safety: the journal (state.py) is written before ``apply`` and before every later step.
A run that finds one rolls it back first (or just removes it when it had reached ``done``),
using the old credentials it holds, then rotates afresh.
"""

from __future__ import annotations

import json
from typing import Any

from bootstrap.settings import Credentials
from common.errors import ConfigError, PermanentError, StackError
from rotation import checks, inventory, passwords
from rotation.checks import Server
from rotation.report import FaultHook, Outcome, StepFailed, Steps
from rotation.state import Journal, creds_from_json, creds_to_json, now_text
from rotation.targets import ROOT_PASSWORD, ROOT_USER, Deployment, Target

COMMAND = "rotate-root"
QUICK_CHECK_BUDGET = 3.0


def _values(creds: Credentials, keys: list[str]) -> dict[str, str]:
    by_key = {ROOT_USER: creds.access_key, ROOT_PASSWORD: creds.secret_key}
    return {key: by_key[key] for key in keys}


def _owned_service_accounts(server: Server, root: Credentials) -> list[str]:
    text = server.clients(root).admin.list_service_account(root.access_key)
    doc = json.loads(text) if text and text.strip() else {}
    return sorted(a.get("accessKey", "?") for a in doc.get("accounts") or [])


def _runs_old(server: Server, old: Credentials) -> bool:
    """Does the server answer, accepting ``old``? (A quick look; unreachable means no.)"""
    try:
        quick = Server(server.endpoint, server.region, QUICK_CHECK_BUDGET)
        return checks.refusal(quick, old) is None
    except StackError:
        return False


def roll_back(
    target: Target,
    journal: Journal,
    doc: dict[str, Any],
    server: Server,
    steps: Steps,
    prefix: str,
) -> bool:
    """Put the journal's old credentials back and check they work; True when they do."""
    old = creds_from_json(doc["old"], str(journal.path))
    keys = list(doc["keys"])
    doc["rolling_back"] = True
    journal.save(doc)
    try:
        steps.run(f"{prefix}-apply", lambda: target.write(_values(old, keys)))
        if _runs_old(server, old):
            steps.skip(f"{prefix}-restart", "MinIO still runs with the old credentials")
        else:
            steps.run(f"{prefix}-restart", lambda: target.restart(["minio"]))
            steps.run(
                f"{prefix}-wait-healthy",
                lambda: target.wait_healthy(server.endpoint),
                f"{server.endpoint} is ready",
            )
        steps.run(
            f"{prefix}-verify",
            lambda: checks.require_accepted(server, old, "old root"),
            f"the old root credentials of {old.access_key} work again",
        )
    except StepFailed as failed:
        steps.outcome.rolled_back = False
        steps.outcome.rollback_error = failed
        return False
    journal.clear()
    return True


def _recover(
    target: Target,
    journal: Journal,
    pending: dict[str, Any],
    out: Outcome,
    fault: FaultHook | None,
) -> bool:
    if pending.get("target") != target.name:
        raise ConfigError(
            [
                (
                    "--target",
                    f"{journal.path} holds an unfinished rotation of target "
                    f"{pending.get('target')!r}; re-run with --target {pending.get('target')} "
                    "to finish it first",
                )
            ]
        )
    stopped_at = str(pending.get("step"))
    if stopped_at == "done":
        journal.clear()
        out.recovered = {
            "action": "completed",
            "stopped_at": stopped_at,
            "detail": f"the run of {pending.get('started_at')} had finished",
        }
        return True
    deployment = target.read()
    server = Server(deployment.endpoint, deployment.region)
    steps = Steps(out, fault, before=lambda step: _mark(journal, pending, step))
    ok = roll_back(target, journal, pending, server, steps, "recover")
    out.recovered = {
        "action": "rolled-back" if ok else "rollback-failed",
        "stopped_at": stopped_at,
        "detail": f"the run of {pending.get('started_at')} stopped at {stopped_at}; "
        + ("rolled it back" if ok else "its rollback failed"),
    }
    if not ok:
        assert out.rollback_error is not None
        out.fail(out.rollback_error)
    return ok


def _mark(journal: Journal, doc: dict[str, Any], step: str) -> None:
    doc["step"] = step
    doc.setdefault("history", []).append([step, now_text()])
    journal.save(doc)


def rotate(
    target: Target,
    journal: Journal,
    *,
    new_user: str | None = None,
    dry_run: bool = False,
    fault: FaultHook | None = None,
) -> Outcome:
    """Check, take the inventory, generate; then (unless ``dry_run``) apply, restart, verify,
    and roll back on any failure. An unfinished earlier run is rolled back first."""
    out = Outcome(COMMAND, target.name, dry_run=dry_run)
    pending = journal.load()
    if pending is not None:
        if dry_run:
            out.warnings.append(
                f"{journal.path} holds an unfinished rotation (stopped at {pending.get('step')}); "
                "a real run rolls it back first"
            )
            return out
        if not _recover(target, journal, pending, out, fault):
            return out

    deployment = target.read()
    server = Server(deployment.endpoint, deployment.region)
    out.facts = {
        "where": deployment.where,
        "endpoint": deployment.endpoint,
        "user": deployment.root.access_key,
    }
    if new_user is not None:
        _check_new_user(new_user, deployment)
        out.facts["new_user"] = new_user
    steps = Steps(out, fault)
    try:
        before, new = _check_and_generate(steps, server, deployment, new_user)
    except StepFailed as failed:
        out.fail(failed)  # nothing was changed yet
        return out
    keys = [ROOT_PASSWORD] if new_user is None else [ROOT_USER, ROOT_PASSWORD]
    if dry_run:
        _skip_changes(steps, target, deployment, keys)
        return out
    _apply_and_verify(target, journal, steps, server, deployment, before, new, keys)
    return out


def _check_and_generate(
    steps: Steps, server: Server, deployment: Deployment, new_user: str | None
) -> tuple[inventory.Inventory, Credentials]:
    """The steps that change nothing: the current credentials work, what the server holds,
    and the new credentials. Returns (the inventory, the new credentials)."""
    out, old = steps.outcome, deployment.root
    steps.run(
        "check-current",
        lambda: checks.require_accepted(server, old, "configured root"),
        f"root credentials of {old.access_key} accepted at {deployment.endpoint}",
    )
    if new_user is not None:
        owned = _owned_service_accounts(server, old)
        out.warnings.append(
            f"--new-user: renaming root orphans the service accounts root owns "
            f"(minio/minio#17565) and invalidates anything signed with root's keys; root owns "
            f"{len(owned)} service account(s){': ' + ', '.join(owned) if owned else ''}"
        )
    before = steps.run(
        "inventory", lambda: inventory.take(server.clients(old)), lambda inv: inv.describe()
    )
    out.facts["inventory"] = before.summary()
    new = steps.run(
        "generate",
        lambda: Credentials(new_user or old.access_key, passwords.new_password()),
        f"a new {passwords.PASSWORD_LENGTH}-character password"
        + (f" and the new user name {new_user}" if new_user else f" for {old.access_key}"),
    )
    return before, new


def _skip_changes(steps: Steps, target: Target, deployment: Deployment, keys: list[str]) -> None:
    for step, why in (
        ("apply", f"would set {', '.join(keys)} in {deployment.where}"),
        ("restart", f"would restart MinIO ({target.name})"),
        ("verify", "would check: new accepted, old refused, signer works, nothing lost"),
    ):
        steps.skip(step, why)
    steps.outcome.summary = "dry run: nothing was changed"


def _apply_and_verify(
    target: Target,
    journal: Journal,
    steps: Steps,
    server: Server,
    deployment: Deployment,
    before: inventory.Inventory,
    new: Credentials,
    keys: list[str],
) -> None:
    """Journal, write, restart, verify; on any failure put the old credentials back."""
    out, old = steps.outcome, deployment.root
    doc: dict[str, Any] = {
        "target": target.name,
        "started_at": now_text(),
        "old": creds_to_json(old),
        "new": creds_to_json(new),
        "keys": keys,
        "endpoint": deployment.endpoint,
    }
    steps.before = lambda step: _mark(journal, doc, step)
    try:
        steps.run("apply", lambda: target.write(_values(new, keys)))
        steps.run("restart", lambda: target.restart(["minio"]))
        steps.run(
            "wait-healthy",
            lambda: target.wait_healthy(deployment.endpoint),
            f"{deployment.endpoint} is ready",
        )
        steps.run(
            "verify-new",
            lambda: checks.require_accepted(server, new, "new root"),
            f"the new root credentials of {new.access_key} are accepted",
        )
        steps.run(
            "verify-old-refused",
            lambda: checks.require_refused(server, old, "old root"),
            lambda code: f"the old root credentials are refused ({code})",
        )
        _verify_signer(steps, server, deployment)
        steps.run(
            "verify-inventory",
            lambda: _same_inventory(before, inventory.take(server.clients(new))),
        )
    except StepFailed as failed:
        out.fail(failed)
        out.rolled_back = roll_back(target, journal, doc, server, steps, "rollback")
        return
    _mark(journal, doc, "done")
    journal.clear()
    out.secrets = {ROOT_USER: new.access_key, ROOT_PASSWORD: new.secret_key}
    out.summary = f"root credentials rotated; the new password is in {deployment.where}"


def _check_new_user(new_user: str, deployment: Deployment) -> None:
    if new_user == deployment.root.access_key:
        raise ConfigError([("--new-user", "is the current root user; leave it out to keep it")])
    if deployment.signer is not None and new_user == deployment.signer.access_key:
        raise ConfigError([("--new-user", "is the signer's access key; choose another name")])


def _verify_signer(steps: Steps, server: Server, deployment: Deployment) -> None:
    signer = deployment.signer
    if signer is None:
        steps.skip("verify-signer", "no signer identity configured (SIGNER_ACCESS_KEY)")
        return
    steps.run(
        "verify-signer",
        lambda: checks.signer_reaches(server, signer, deployment.buckets),
        f"the signer ({signer.access_key}) is accepted and reaches "
        f"{', '.join(deployment.buckets) or 'no bucket'}",
    )


def _same_inventory(before: inventory.Inventory, after: inventory.Inventory) -> str:
    problems = inventory.compare(before, after)
    if problems:
        raise PermanentError("; ".join(problems))
    return f"{before.describe()} unchanged; bucket settings and api config unchanged"
