"""A use-case's two steps, run in a row: the plan made once, then handed to execute."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage
from signer.usecase import UseCase


class Echo(BaseModel):
    text: str


@dataclass(frozen=True)
class EchoPlan:
    text: str
    subject: str

    @property
    def needs_storage(self) -> bool:
        return False


def test_calling_a_use_case_plans_once_then_executes_that_plan(settings: Settings) -> None:
    plans: list[EchoPlan] = []

    def plan(service: SignerService, request: Echo, subject: str) -> EchoPlan:
        plans.append(EchoPlan(request.text.upper(), subject))
        return plans[-1]

    def execute(service: SignerService, made: EchoPlan) -> Echo:
        assert made is plans[-1]
        return Echo(text=f"{made.text} for {made.subject}")

    echo = UseCase(plan=plan, execute=execute)
    service = SignerService(settings, Storage.from_settings(settings))
    assert echo(service, Echo(text="hi"), "t") == Echo(text="HI for t")
    assert len(plans) == 1
