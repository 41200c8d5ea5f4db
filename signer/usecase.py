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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from signer.service import SignerService


class Plan(Protocol):
    @property
    def needs_storage(self) -> bool:
        """Whether ``execute`` calls storage, and so must run in the thread pool."""
        ...


RequestT = TypeVar("RequestT", bound=BaseModel)
PlanT = TypeVar("PlanT", bound=Plan)
ResponseT = TypeVar("ResponseT", bound=BaseModel)


@dataclass(frozen=True)
class UseCase(Generic[RequestT, PlanT, ResponseT]):
    plan: Callable[[SignerService, RequestT, str], PlanT]
    execute: Callable[[SignerService, PlanT], ResponseT]

    def __call__(self, service: SignerService, request: RequestT, subject: str) -> ResponseT:
        """Both steps in a row on this thread: for the CLI, tests and benchmarks."""
        return self.execute(service, self.plan(service, request, subject))
