"""A use-case in two steps: ``plan`` decides, ``execute`` does the work.

``plan(service, request, subject)`` makes no storage call: it applies the policy, reads the
clock, picks ids, verifies an intent token, and returns a frozen value saying what was decided
and whether carrying it out needs storage (``needs_storage``). ``execute(service, plan)``
makes the storage calls the plan needs, if any, and signs the answer.

The split is there for the event loop. A storage call blocks, so it must run in the thread
pool; signing a single PUT or a form is tens of microseconds of CPU, less than the hop to a
thread and back. Which one a request is depends on the request itself (a presign becomes a
multipart upload, created on storage, above the profile's threshold), so the route runs the
plan inline, reads the answer from it, and only then runs ``execute`` inline or in the pool:
each request is evaluated once, and the route never has to guess.

A use-case with an ``Audit`` writes one audit line per decision (``signer.audit``): a plan
that refuses writes it with what the request asked; otherwise ``execute`` writes it, granted
or refused, with what the plan decided. Whoever runs the steps (the route table, the Uppy
routes, the CLI) gets the line without doing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from signer.audit import OK, Facts
from signer.core.errors import SignerError
from signer.models import INTERNAL_CODE
from signer.service import SignerService


class Plan(Protocol):
    @property
    def needs_storage(self) -> bool:
        """Whether ``execute`` calls storage, and so must run in the thread pool."""
        ...


RequestT = TypeVar("RequestT", bound=BaseModel)
PlanT = TypeVar("PlanT", bound=Plan)
ResponseT = TypeVar("ResponseT", bound=BaseModel)


def _nothing(response: BaseModel) -> Facts:
    return {}


@dataclass(frozen=True)
class Audit(Generic[RequestT, PlanT, ResponseT]):
    """What a use-case's audit line says: the decision's name, and its facts from the
    request (a plan that refused), the plan, and the answer (added to the plan's)."""

    decision: str
    of_request: Callable[[RequestT, str], Facts]
    of_plan: Callable[[PlanT], Facts]
    of_response: Callable[[ResponseT], Facts] = field(default=_nothing)


def _outcome(exc: Exception) -> str:
    return exc.code.value if isinstance(exc, SignerError) else INTERNAL_CODE


class UseCase(Generic[RequestT, PlanT, ResponseT]):
    """``plan`` then ``execute`` (see the module's docstring); ``audit`` says what to log."""

    def __init__(
        self,
        plan: Callable[[SignerService, RequestT, str], PlanT],
        execute: Callable[[SignerService, PlanT], ResponseT],
        audit: Audit[RequestT, PlanT, ResponseT] | None = None,
    ) -> None:
        self._plan = plan
        self._execute = execute
        self.audit = audit

    def plan(self, service: SignerService, request: RequestT, subject: str) -> PlanT:
        try:
            return self._plan(service, request, subject)
        except Exception as exc:
            if self.audit is not None and service.audit.enabled:
                facts = self.audit.of_request(request, subject)
                service.audit.record(self.audit.decision, _outcome(exc), facts, service.now())
            raise

    def execute(self, service: SignerService, plan: PlanT) -> ResponseT:
        audit = self.audit if service.audit.enabled else None
        if audit is None:
            return self._execute(service, plan)
        facts = audit.of_plan(plan)
        try:
            response = self._execute(service, plan)
        except Exception as exc:
            service.audit.record(audit.decision, _outcome(exc), facts, service.now())
            raise
        facts = {**facts, **audit.of_response(response)}
        service.audit.record(audit.decision, OK, facts, service.now())
        return response

    def __call__(self, service: SignerService, request: RequestT, subject: str) -> ResponseT:
        """Both steps in a row on this thread: for the CLI, tests and benchmarks."""
        return self.execute(service, self.plan(service, request, subject))
