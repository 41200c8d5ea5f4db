"""Run the steps: wait for the server, plan every step, then apply and verify them in order.

Planning (read + diff) covers *every* step before the first write, so bad input the server
reveals (wrong credentials, a conflicting ``MINIO_API_*`` override) fails with nothing
changed. In plan mode ``converge`` returns right after planning: ``apply`` and ``verify``
(which writes probe objects) are never reached, so ``--plan`` cannot write. Otherwise each
step is applied and verified in order, and the first failure stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3

from bootstrap import bucket, cors, encryption, identity, minio_api, privacy, staging, uploads
from bootstrap.minio_api import ApiConfig
from bootstrap.report import Report, Status, StepReport
from bootstrap.s3 import MINIO, Clients, check_credentials, detect, explain
from bootstrap.settings import ENCRYPTION_OFF, BucketSpec, Settings
from bootstrap.step import Change, Kind, Step, VerifyError
from common.envconfig import format_duration
from common.errors import PermanentError, StackError, WaitTimeout

OnStep = Callable[[StepReport], None]


def _inert(
    name: str, target: str, *, skip: str | None = None, error: StackError | None = None
) -> Step[None, None]:
    """A step with nothing to manage: skipped (``skip``), or failing while planning (``error``)."""

    def read(clients: Clients, desired: None) -> None:
        if error is not None:
            raise error

    return Step(
        name,
        target,
        None,
        read,
        lambda c, d: [],
        lambda c, d, ch: [],
        lambda c, d: {},
        lambda c: {},
        skip,
    )


def _encryption_step(b: BucketSpec, server: str) -> Step[Any, Any]:
    if b.encryption == ENCRYPTION_OFF:
        return _inert("encryption", b.name, skip="BUCKET_ENCRYPTION=off: left as it is")
    return encryption.step(b.name, minio=server == MINIO)


def build_steps(settings: Settings, server: str) -> list[Step[Any, Any]]:
    steps: list[Step[Any, Any]] = []
    for b in settings.buckets:
        steps += [bucket.step(b.name), privacy.step(b.name), _encryption_step(b, server)]
    if server == MINIO:
        origins = settings.cors_origins()
        api = ApiConfig(
            {
                minio_api.CORS_ALLOW_ORIGIN: cors.setting_value(origins),
                minio_api.STALE_UPLOADS_EXPIRY: format_duration(settings.multipart_abort_after),
            }
        )
        steps.append(cors.minio_step(origins, api, settings.buckets[0].name))
        steps.append(uploads.minio_step(settings.multipart_abort_after, api))
    else:
        steps += [cors.bucket_step(b.name, b.cors_origins) for b in settings.buckets]
        steps += [uploads.lifecycle_step(b.name, b.abort_after_days) for b in settings.buckets]
    steps += [staging.step(b.name) for b in settings.buckets]
    for b in settings.buckets:
        if b.signer is None:
            skip = "SIGNER_ACCESS_KEY and SIGNER_SECRET_KEY are not set"
            steps.append(_inert("identity", b.name, skip=skip))
        elif server != MINIO:
            error = PermanentError(
                "SIGNER_ACCESS_KEY is set, but the signer identity is made with MinIO's admin API "
                "and this server is not MinIO",
                hint="create the signer's user with your server's own tools and unset SIGNER_*",
            )
            steps.append(_inert("identity", b.name, error=error))
        else:
            steps.append(
                identity.step(
                    b.name,
                    b.signer,
                    b.signer_policy,
                    settings.signer_policies(b.signer.access_key),
                    settings.signer_buckets(b.signer.access_key),
                )
            )
    return steps


def status_of(changes: Sequence[Change]) -> Status:
    if not changes:
        return Status.UNCHANGED
    if all(c.kind is Kind.CREATE for c in changes):
        return Status.CREATED
    return Status.CHANGED


def _failed(s: Step[Any, Any], exc: BaseException, when: str) -> StepReport:
    err = explain(exc, who="root")
    return StepReport(s.name, s.target, Status.FAILED, f"{when}: {err.message}", err.hint)


@dataclass(frozen=True)
class _Planned:
    step: Step[Any, Any]
    current: Any = None
    changes: tuple[Change, ...] = ()
    outcome: StepReport | None = None  # set when planning already decided (skipped, failed)

    def report(self, status: Status, detail: str) -> StepReport:
        """What planning found; a skipped step lists no changes (none were made)."""
        s = self.step
        changes = () if status is Status.SKIPPED else self.changes
        return StepReport(s.name, s.target, status, detail, None, changes, s.observe(self.current))


def _plan(s: Step[Any, Any], clients: Clients) -> _Planned:
    if s.skip:
        return _Planned(s, outcome=StepReport(s.name, s.target, Status.SKIPPED, s.skip))
    try:
        current = s.read(clients, s.desired)
        return _Planned(s, current, tuple(s.diff(current, s.desired)))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reported step
        return _Planned(s, outcome=_failed(s, exc, "planning"))


def converge(
    steps: Sequence[Step[Any, Any]],
    clients: Clients,
    *,
    plan: bool,
    on_step: OnStep | None = None,
) -> list[StepReport]:
    emit = on_step or (lambda _: None)
    clients.memo.clear()  # a run reads the server afresh (then once per thing it reads)
    planned = [_plan(s, clients) for s in steps]
    failed = next(
        (p.outcome for p in planned if p.outcome and p.outcome.status is Status.FAILED), None
    )

    stopped: StepReport | None = None  # the step whose apply or verify failed
    reports: list[StepReport] = []
    for p in planned:
        if p.outcome is not None:
            report = p.outcome
        elif failed is not None:
            # Nothing is applied when any step failed while planning.
            report = p.report(
                Status.SKIPPED, f"nothing applied: {failed.label} failed while planning"
            )
        elif plan:
            detail = "; ".join(map(str, p.changes)) if p.changes else "as declared"
            report = p.report(status_of(p.changes), detail)
        elif stopped is not None:
            report = p.report(Status.SKIPPED, f"not run: {stopped.label} failed")
        else:
            report = _apply_and_verify(p.step, clients, list(p.changes))
            if report.status is Status.FAILED:
                stopped = report
        emit(report)
        reports.append(report)
    return reports


# How long a change this run made may take to read back everywhere. A distributed MinIO applies
# a config write on the node that took it and on the others a moment later, and a balancer may
# send the read-back (or a real preflight) to a node that has not applied it yet.
SETTLE_SECONDS = 15.0


def _verify_settled(s: Step[Any, Any], clients: Clients, made: list[Change]) -> dict[str, Any]:
    """``verify``; when this run changed something, a VerifyError is retried (reads forgotten)
    until SETTLE_SECONDS pass. A run that changed nothing fails at once: what it reads is
    what the server holds."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            return s.verify(clients, s.desired)
        except VerifyError:
            if not made or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
            clients.memo.clear()


def _apply_and_verify(s: Step[Any, Any], clients: Clients, changes: list[Change]) -> StepReport:
    try:
        made = s.apply(clients, s.desired, changes) if changes else []
    except Exception as exc:  # noqa: BLE001
        return _failed(s, exc, "applying")
    status = status_of(made)
    try:
        observed = _verify_settled(s, clients, made)
    except Exception as exc:  # noqa: BLE001
        report = _failed(s, exc, "verifying")
        return StepReport(
            report.step, report.target, report.status, report.detail, report.hint, tuple(made)
        )
    if made:
        detail = "; ".join(map(str, made))
    elif changes:
        detail = "as declared (a concurrent bootstrap made the change first)"
    else:
        detail = "as declared"
    return StepReport(s.name, s.target, status, detail, None, tuple(made), observed, verified=True)


def run(
    settings: Settings,
    *,
    plan: bool = False,
    http: urllib3.PoolManager | None = None,
    on_step: OnStep | None = None,
) -> Report:
    """Wait for the server, then converge it to ``settings``. Never raises for server trouble."""
    emit = on_step or (lambda _: None)
    clients = Clients.connect(settings, http)
    server: str | None = None
    try:
        server, seconds = detect(settings.endpoint, settings.timeout)
        clients.server = server
        check_credentials(clients)
    except StackError as exc:
        timed_out = isinstance(exc, WaitTimeout)
        ready = StepReport(
            "ready", "server", Status.FAILED, exc.message, exc.hint, timed_out=timed_out
        )
        emit(ready)
        return Report(plan, settings.endpoint, server, (ready,))
    name = "MinIO" if clients.server == MINIO else "S3 server"
    ready = StepReport(
        "ready",
        "server",
        Status.UNCHANGED,
        f"{name} ready after {seconds:.1f}s",
        observed={"server": clients.server, "seconds": round(seconds, 3)},
    )
    emit(ready)
    steps = converge(build_steps(settings, clients.server), clients, plan=plan, on_step=on_step)
    return Report(plan, settings.endpoint, clients.server, (ready, *steps))
