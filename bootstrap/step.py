"""The shape every bootstrap step shares: read → diff → apply → verify.

A step is a value: what it manages (``name``, ``target``), the declared state (``desired``)
and four functions. ``read`` returns the current state (absence is an empty value, never an
error); ``diff`` is pure and compares normalised values; ``apply`` performs the changes and
returns the ones it really made (a concurrent bootstrap may have made them first);
``verify`` reads back and checks real behaviour, returning what it observed or raising
VerifyError. ``converge`` (converge.py) runs them and stops before ``apply`` in plan mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from common.errors import PermanentError

if TYPE_CHECKING:
    from bootstrap.s3 import Clients

C = TypeVar("C")
D = TypeVar("D")


class Kind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """One difference between the server and the declared state.

    ``before``/``after`` are reported (never secrets); ``payload`` is what ``apply`` needs and
    is never reported.
    """

    kind: Kind
    what: str
    before: Any = None
    after: Any = None
    payload: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "what": self.what, "from": self.before, "to": self.after}

    def __str__(self) -> str:
        if self.kind is Kind.CREATE:
            return f"create {self.what}" + (f" ({self.after})" if self.after is not None else "")
        if self.kind is Kind.DELETE:
            return f"delete {self.what}"
        return f"set {self.what}: {self.before} -> {self.after}"


class VerifyError(PermanentError):
    """The server does not behave as declared after apply (or already did not)."""


@dataclass(frozen=True)
class Step(Generic[C, D]):
    name: str  # the concern: bucket, privacy, cors, uploads, identity
    target: str  # a bucket name, or "server" for server-wide settings
    desired: D
    read: Callable[[Clients, D], C]
    diff: Callable[[C, D], list[Change]]
    apply: Callable[[Clients, D, list[Change]], list[Change]]
    verify: Callable[[Clients, D], dict[str, Any]]
    observe: Callable[[C], dict[str, Any]]
    skip: str | None = None  # why the step does not apply here; it is then reported, not run
