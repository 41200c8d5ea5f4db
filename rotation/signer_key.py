"""``rotate-signer-key``: a new key for the signer, an overlap, then the old key revoked.

Design: a new key is a new IAM user, ``<base>-g<N>`` (``minio-stack-signer`` →
``minio-stack-signer-g2`` → ``-g3`` ...), holding the same policies as the current one.

Why not the alternatives: a MinIO IAM user has exactly one secret, so changing it would break
every URL already handed out at that instant (no overlap). A service account of root would
make the signer depend on root's keys (renaming root orphans it, minio/minio#17565). A
service account *of the signer user* would work for signing, but bootstrap converges the
identity named by SIGNER_ACCESS_KEY as an IAM user (bootstrap/identity.py), so the signer's
key must stay a user: a second user fits what bootstrap already checks on every start, and
each generation can be revoked on its own by removing it.

The overlap is real: the old user stays enabled, with its policy, until it is revoked, so a
URL it signed keeps working until it expires. The default overlap is the longest lifetime a
download URL can have under the signer's policy: the largest ``ttl_max`` of its profiles (a
client may ask for any TTL up to it; ``get_ttl`` is only the default), 7 days by default.

Steps of a rotation: check-current, plan, create-user, verify-new-key (a URL presigned with
the new key downloads), switch (SIGNER_ACCESS_KEY/SIGNER_SECRET_KEY in .env), restart
(minio and signer: MinIO's bootstrap must declare the new user too, or a later restart would
re-create the old one), verify-switched (both keys sign working URLs), then the overlap.
``--finish``, or any run after the overlap ended, revokes: the old user is removed and a URL
it signed is checked to fail while one signed with the new key works.

State (state.py, ``<env file>.signer-key.json``, 0600) is written before each step and kept
through the overlap. After a crash: a run that stopped before ``switch`` is rolled back (the
new user removed); one that stopped in ``switch``..``verify-switched`` is finished (the
signer may already hand out URLs signed with the new key, so those must keep working).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from minio.error import MinioAdminException

from bootstrap.s3 import error_code
from bootstrap.settings import Credentials
from common.envconfig import format_duration
from common.errors import ConfigError, PermanentError
from rotation import checks, passwords
from rotation.checks import Probe, Server
from rotation.report import FaultHook, Outcome, StepFailed, Steps
from rotation.state import (
    Journal,
    creds_from_json,
    creds_to_json,
    now_text,
    parse_time,
)
from rotation.targets import SIGNER_ACCESS, SIGNER_SECRET, Deployment, Target
from signer.policy_file import DEFAULT_POLICY, PolicyError, load_policy

COMMAND = "rotate-signer-key"
SERVICES = ("minio", "signer")
BEFORE_SWITCH = ("create-user", "verify-new-key")
SWITCHING = ("switch", "restart", "verify-switched")
_GENERATION = re.compile(r"^(?P<base>.+)-g(?P<gen>\d+)$")
MAX_NAME_TRIES = 100


def default_overlap(config: Mapping[str, str]) -> tuple[float, str]:
    """(seconds, why): the longest download-URL lifetime the signer's policy allows."""
    path = config.get("SIGNER_POLICY_FILE")
    policy, source = DEFAULT_POLICY, "the built-in policy"
    if path:
        try:
            policy = load_policy(Path(path).read_text(encoding="utf-8"), source=path)
            source = path
        except (OSError, PolicyError) as exc:
            why = f"cannot read it here to find the longest URL lifetime ({exc})"
            raise ConfigError([("SIGNER_POLICY_FILE", f"{why}; give --overlap DURATION")]) from None
    longest = max(p.ttl_max for p in policy.profiles.values())
    return float(longest), f"the longest download-URL lifetime in {source}"


def next_name(current: str, exists: Callable[[str], bool]) -> str:
    match = _GENERATION.match(current)
    base, gen = (match["base"], int(match["gen"])) if match else (current, 1)
    for n in range(gen + 1, gen + 1 + MAX_NAME_TRIES):
        name = f"{base}-g{n}"
        if not exists(name):
            return passwords.check_user_name(name)
    raise PermanentError(f"users {base}-g{gen + 1}..-g{gen + MAX_NAME_TRIES} all exist")


def _user_exists(admin: Any, name: str) -> bool:
    try:
        admin.user_info(name)
    except MinioAdminException as exc:
        if error_code(exc) == "XMinioAdminNoSuchUser":
            return False
        raise
    return True


def _policies(admin: Any, user: str) -> list[str]:
    info = json.loads(admin.user_info(user) or "{}")
    policies = sorted(p for p in (info.get("policyName") or "").split(",") if p)
    if not policies:
        raise PermanentError(
            f"the signer user {user} holds no policy",
            hint="run `minio-stack bootstrap` first so the new key gets the same rights",
        )
    return policies


def _remove_user(admin: Any, name: str) -> str:
    try:
        admin.user_remove(name)
    except MinioAdminException as exc:
        if error_code(exc) != "XMinioAdminNoSuchUser":
            raise
        return f"user {name} was already gone"
    return f"user {name} removed"


class Rotation:
    def __init__(
        self,
        target: Target,
        journal: Journal,
        *,
        fault: FaultHook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.target = target
        self.journal = journal
        self.clock = clock
        self.out = Outcome(COMMAND, target.name)
        self.steps = Steps(self.out, fault)
        self.state: dict[str, Any] = {}

    # --- helpers ------------------------------------------------------------------------------

    def _mark(self, phase: str) -> None:
        self.state["phase"] = phase
        self.state.setdefault("history", []).append([phase, now_text()])
        self.journal.save(self.state)

    def _deployment(self) -> tuple[Deployment, Server]:
        deployment = self.target.read()
        if deployment.signer is None or not deployment.buckets:
            raise ConfigError(
                [("SIGNER_ACCESS_KEY", "no signer identity is configured; nothing to rotate")]
            )
        return deployment, Server(deployment.endpoint, deployment.region)

    def _keys(self) -> tuple[Credentials, Credentials]:
        where = str(self.journal.path)
        return creds_from_json(self.state["old"], where), creds_from_json(self.state["new"], where)

    def _until(self) -> datetime:
        return parse_time(self.state["overlap_until"])

    # --- entry point ----------------------------------------------------------------------------

    def run(
        self, *, overlap: float, finish: bool, dry_run: bool, overlap_source: str = "--overlap"
    ) -> Outcome:
        self.out.dry_run = dry_run
        pending = self.journal.load()
        if pending is not None:
            owner = pending.get("target")
            if owner != self.target.name:
                why = (
                    f"{self.journal.path} belongs to target {owner!r}; re-run with --target {owner}"
                )
                raise ConfigError([("--target", why)])
            self.state = pending
            phase = str(pending.get("phase"))
            if dry_run:
                self.out.warnings.append(
                    f"a rotation is in progress (phase {phase}); a real run continues it"
                )
                return self.out
            if pending.get("rolling_back"):
                self._roll_back_switched("recover")
                self.out.recovered = {
                    "action": "rolled-back" if self.out.rolled_back else "rollback-failed",
                    "stopped_at": phase,
                    "detail": f"the run was rolling back (at {phase}); finished the rollback",
                }
                if not self.out.rolled_back:
                    assert self.out.rollback_error is not None
                    self.out.fail(self.out.rollback_error)
                    return self.out
                if finish:
                    return self._nothing_to_finish()
            elif phase in BEFORE_SWITCH:
                if not self._roll_back_unswitched("recover"):
                    return self.out
                self.out.recovered = {
                    "action": "rolled-back",
                    "stopped_at": phase,
                    "detail": f"the run stopped at {phase} (before the switch); rolled it back",
                }
                if finish:
                    return self._nothing_to_finish()
            elif phase in SWITCHING:
                self.out.recovered = {
                    "action": "completed",
                    "stopped_at": phase,
                    "detail": f"the run stopped at {phase}; finishing the switch",
                }
                return self._switch("resume")
            else:
                return self._overlap_or_revoke(finish)
            self.out.rolled_back = None  # that was the earlier run's; "recovered" says so
        if finish:
            return self._nothing_to_finish()
        return self._start(overlap, overlap_source, dry_run)

    def _nothing_to_finish(self) -> Outcome:
        self.out.summary = "no signer-key rotation is in progress; nothing to finish"
        return self.out

    # --- a new rotation -------------------------------------------------------------------------

    def _start(self, overlap: float, source: str, dry_run: bool) -> Outcome:
        deployment, server = self._deployment()
        old = deployment.signer
        assert old is not None  # _deployment refuses a deployment without a signer
        self.out.facts = {
            "where": deployment.where,
            "old_key": old.access_key,
            "overlap_seconds": overlap,
            "overlap_source": source,
        }
        admin = server.clients(deployment.root).admin
        try:
            policies, new_name = self._check_and_plan(deployment, server, admin, old)
        except StepFailed as failed:
            self.out.fail(failed)
            return self.out
        new = Credentials(new_name, passwords.new_password())
        self.out.facts["new_key"] = new.access_key
        if dry_run:
            self.steps.skip("create-user", f"would create {new.access_key}")
            self.steps.skip("switch", f"would set the signer's keys in {deployment.where}")
            self.steps.skip(
                "overlap",
                f"would keep {old.access_key} valid for {format_duration(overlap)} ({source})",
            )
            self.out.summary = "dry run: nothing was changed"
            return self.out
        self.state = {
            "target": self.target.name,
            "started_at": now_text(),
            "old": creds_to_json(old),
            "new": creds_to_json(new),
            "policies": policies,
            "overlap_seconds": overlap,
            "bucket": deployment.buckets[0],
        }
        self.steps.before = self._mark
        try:
            self._create_user(deployment, server, admin, new, policies)
        except StepFailed as failed:
            self.out.fail(failed)
            self._roll_back_unswitched("rollback")
            return self.out
        return self._switch("")

    def _check_and_plan(
        self, deployment: Deployment, server: Server, admin: Any, old: Credentials
    ) -> tuple[list[str], str]:
        """Root and the signer work now; (the signer's policies, the new user's name)."""

        def check_current() -> None:
            checks.require_accepted(server, deployment.root, "configured root")
            checks.signer_reaches(server, old, deployment.buckets)

        def plan() -> tuple[list[str], str]:
            name = next_name(old.access_key, lambda taken: _user_exists(admin, taken))
            return _policies(admin, old.access_key), name

        self.steps.run(
            "check-current", check_current, f"root and the signer ({old.access_key}) are accepted"
        )
        return self.steps.run(
            "plan", plan, lambda p: f"new user {p[1]} with policies {', '.join(p[0])}"
        )

    def _create_user(
        self,
        deployment: Deployment,
        server: Server,
        admin: Any,
        new: Credentials,
        policies: list[str],
    ) -> None:
        def create() -> None:
            admin.user_add(new.access_key, new.secret_key)
            admin.attach_policy(policies, user=new.access_key)

        self.steps.run(
            "create-user", create, f"user {new.access_key} created with {', '.join(policies)}"
        )
        self.steps.run(
            "verify-new-key",
            lambda: self._probe(server, deployment, {new: True}),
            "a URL presigned with the new key downloads",
        )

    def _probe(
        self, server: Server, deployment: Deployment, expect: dict[Credentials, bool]
    ) -> None:
        with Probe(server, deployment.root, self.state["bucket"]) as probe:
            for creds, works in expect.items():
                if probe.downloads(creds) != works:
                    which = "new" if creds.access_key == self.state["new"]["access_key"] else "old"
                    raise PermanentError(
                        f"a URL presigned with the {which} key ({creds.access_key}) "
                        + ("was refused" if works else "still downloads")
                    )

    def _signer_runs_with(self, server: Server, deployment: Deployment, key: Credentials) -> None:
        self.target.wait_healthy(server.endpoint)
        checks.signer_reaches(server, key, deployment.buckets)

    def _verify_switched(
        self, server: Server, deployment: Deployment, old: Credentials, new: Credentials
    ) -> None:
        self._signer_runs_with(server, deployment, new)
        self._probe(server, deployment, {new: True, old: True})

    def _switch(self, prefix: str) -> Outcome:
        name = (lambda step: f"{prefix}-{step}") if prefix else (lambda step: step)
        deployment, server = self._deployment()
        old, new = self._keys()
        self.steps.before = lambda step: self._mark(step.removeprefix(f"{prefix}-"))
        try:
            self.steps.run(
                name("switch"),
                lambda: self.target.write(
                    {SIGNER_ACCESS: new.access_key, SIGNER_SECRET: new.secret_key}
                ),
            )
            self.steps.run(name("restart"), lambda: self.target.restart(SERVICES))
            self.steps.run(
                name("verify-switched"),
                lambda: self._verify_switched(server, deployment, old, new),
                "the signer runs with the new key; URLs signed with either key download",
            )
        except StepFailed as failed:
            self.out.fail(failed)
            self._roll_back_switched()
            return self.out
        overlap = float(self.state["overlap_seconds"])
        until = self.clock() + timedelta(seconds=overlap)
        self.state["overlap_until"] = now_text(until)
        self.steps.before = None
        self._mark("overlap")
        until_text = self.state["overlap_until"]
        self.steps.run(
            "overlap", lambda: None, f"the old key {old.access_key} stays valid until {until_text}"
        )
        self.out.facts.update(
            old_key=old.access_key,
            new_key=new.access_key,
            overlap_until=self.state["overlap_until"],
        )
        self.out.secrets = {SIGNER_ACCESS: new.access_key, SIGNER_SECRET: new.secret_key}
        if overlap <= 0:
            return self._revoke()
        self.out.summary = (
            f"the signer now uses {new.access_key}; {old.access_key} stays valid until "
            f"{self.state['overlap_until']}: run `minio-stack rotate-signer-key` after that "
            "(or with --finish) to revoke it"
        )
        return self.out

    # --- the end of the overlap -------------------------------------------------------------------

    def _overlap_or_revoke(self, finish: bool) -> Outcome:
        old, new = self._keys()
        self.out.facts = {
            "old_key": old.access_key,
            "new_key": new.access_key,
            "overlap_until": self.state.get("overlap_until"),
        }
        if self.state.get("phase") == "revoke" or finish or self.clock() >= self._until():
            return self._revoke()
        self.steps.skip(
            "revoke",
            f"the overlap lasts until {self.state['overlap_until']}; {old.access_key} stays valid",
        )
        self.out.summary = (
            f"rotation in progress: {old.access_key} is revoked by the first run after "
            f"{self.state['overlap_until']}, or now with --finish"
        )
        return self.out

    def _revoke(self) -> Outcome:
        deployment, server = self._deployment()
        old, new = self._keys()
        assert deployment.signer is not None
        if deployment.signer.access_key != new.access_key:
            refusal = PermanentError(
                f"{deployment.where} has {SIGNER_ACCESS}={deployment.signer.access_key}, not the "
                f"rotated key {new.access_key}; refusing to revoke a key the signer may use",
                hint=f"restore {SIGNER_ACCESS}, or remove {self.journal.path} after checking",
            )
            self.out.fail(StepFailed("revoke", refusal))
            return self.out
        admin = server.clients(deployment.root).admin
        self.steps.before = self._mark
        try:
            self.steps.run("revoke", lambda: _remove_user(admin, old.access_key))
            self.steps.run(
                "verify-revoked",
                lambda: self._probe(server, deployment, {old: False, new: True}),
                "a URL signed with the old key is refused; one signed with the new key downloads",
            )
        except StepFailed as failed:
            self.out.fail(failed)  # the state stays: the next run retries the revocation
            return self.out
        self.journal.clear()
        self.out.summary = f"{old.access_key} is revoked; the signer uses {new.access_key}"
        return self.out

    # --- undoing ----------------------------------------------------------------------------------

    def _roll_back_unswitched(self, prefix: str) -> bool:
        deployment, server = self._deployment()
        _, new = self._keys()
        admin = server.clients(deployment.root).admin
        self.steps.before = None
        try:
            self.steps.run(f"{prefix}-remove-user", lambda: _remove_user(admin, new.access_key))
        except StepFailed as failed:
            self.out.rolled_back = False
            self.out.rollback_error = failed
            if self.out.failed_step is None:
                self.out.fail(failed)
            return False
        self.journal.clear()
        self.out.rolled_back = True
        return True

    def _roll_back_switched(self, prefix: str = "rollback") -> None:
        """.env back to the old key, restart, check; then the new user goes."""
        old, _ = self._keys()
        self.state["rolling_back"] = True  # a crash from here on: the next run redoes all this
        self.journal.save(self.state)
        self.steps.before = None
        try:
            self.steps.run(
                f"{prefix}-switch",
                lambda: self.target.write(
                    {SIGNER_ACCESS: old.access_key, SIGNER_SECRET: old.secret_key}
                ),
            )
            self.steps.run(f"{prefix}-restart", lambda: self.target.restart(SERVICES))
            deployment, server = self._deployment()
            self.steps.run(
                f"{prefix}-verify",
                lambda: self._signer_runs_with(server, deployment, old),
                f"the signer runs with {old.access_key} again",
            )
        except StepFailed as failed:
            self.out.rolled_back = False
            self.out.rollback_error = failed
            return
        self._roll_back_unswitched(prefix)
