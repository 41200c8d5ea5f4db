"""The audit log: one line per decision, with what was decided and never a secret.

The format is tested with plain values first; then every decision the signer makes is
captured from a real signer on real MinIO, granted and refused, and each line is checked for
its fields and for the absence of anything a reader could use: tokens, signatures, URLs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from signer.audit import FIELDS, AuditLog, logfmt
from signer.auth import fingerprint
from signer.core.errors import ErrorCode, SignerError
from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage
from signer.usecase import Audit, UseCase
from tests.signer.conftest import API_TOKEN, Api

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REQUESTER = fingerprint(API_TOKEN)


def test_logfmt_quotes_what_could_break_a_line() -> None:
    line = logfmt(
        {
            "decision": "presign",
            "mime": 'text/plain; charset="utf-8"',
            "object_key": "a b\nforged=1",
            "size_bytes": 5,
            "actor": "user:42@example.com",
        }
    )
    assert line == (
        'decision=presign mime="text/plain; charset=\\"utf-8\\"" '
        'object_key="a b\\nforged=1" size_bytes=5 actor=user:42@example.com'
    )
    assert "\n" not in line


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, Collected]]:
    log = logging.getLogger("tests.audit")
    log.setLevel(logging.INFO)
    collected = Collected()
    log.addHandler(collected)
    yield log, collected
    log.removeHandler(collected)


def test_formats(logger: tuple[logging.Logger, Collected]) -> None:
    log, collected = logger
    facts = {"requester": "api-x", "size_bytes": 7, "actor": None, "unknown": "dropped"}
    AuditLog("logfmt", log).record("abort", "conflict", facts, NOW)
    AuditLog("json", log).record("abort", "ok", facts, NOW)
    AuditLog("off", log).record("abort", "ok", facts, NOW)
    assert collected.lines[0] == (
        "time=2026-03-01T12:00:00Z decision=abort outcome=conflict requester=api-x size_bytes=7"
    )
    assert json.loads(collected.lines[1]) == {
        "time": "2026-03-01T12:00:00Z",
        "decision": "abort",
        "outcome": "ok",
        "requester": "api-x",
        "size_bytes": 7,
    }
    assert len(collected.lines) == 2  # off writes nothing
    with pytest.raises(ValueError, match="logfmt, json, off"):
        AuditLog("xml", log)
    # A use-case cannot overwrite the line's own fields.
    AuditLog("logfmt", log).record("abort", "ok", {"decision": "forged", "outcome": "x"}, NOW)
    assert collected.lines[-1] == "time=2026-03-01T12:00:00Z decision=abort outcome=ok"


class Echo(BaseModel):
    text: str


class EchoPlan(BaseModel):
    text: str

    @property
    def needs_storage(self) -> bool:
        return False


def test_a_use_case_writes_one_line_per_decision(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def plan(service: SignerService, request: Echo, subject: str) -> EchoPlan:
        if request.text == "refuse":
            raise SignerError(ErrorCode.BAD_REQUEST, "no")
        return EchoPlan(text=request.text)

    def execute(service: SignerService, made: EchoPlan) -> Echo:
        if made.text == "break":
            raise RuntimeError("a bug")
        return Echo(text=made.text)

    echo = UseCase(
        plan=plan,
        execute=execute,
        audit=Audit(
            "echo",
            lambda request, subject: {"requester": subject, "mime": request.text},
            lambda made: {"mime": made.text},
            lambda answer: {"kind": "answered"},
        ),
    )
    service = SignerService(settings, Storage.from_settings(settings))
    caplog.set_level(logging.INFO, logger="signer.audit")
    echo(service, Echo(text="hi"), "api-t")
    with pytest.raises(SignerError):
        echo(service, Echo(text="refuse"), "api-t")
    with pytest.raises(RuntimeError):
        echo(service, Echo(text="break"), "api-t")
    lines = [r.getMessage() for r in caplog.records if r.name == "signer.audit"]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "decision=echo outcome=ok mime=hi kind=answered",
        "decision=echo outcome=bad_request requester=api-t mime=refuse",
        "decision=echo outcome=internal mime=break",
    ]


def parse(line: str) -> dict[str, str]:
    """A logfmt line of this module's making, back into fields."""
    fields: dict[str, str] = {}
    rest = line
    while rest:
        name, _, rest = rest.partition("=")
        if rest.startswith('"'):
            value, end = json.JSONDecoder().raw_decode(rest)
            rest = rest[end:].lstrip()
        else:
            value, _, rest = rest.partition(" ")
        fields[name] = value
    return fields


def lines_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "signer.audit"]


def no_secret(line: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in line
    for marker in ("eyJ", "X-Amz-Signature", "x-amz-signature", "http://", "https://", "Bearer"):
        assert marker not in line


def test_every_decision_is_one_line_without_a_secret(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="signer.audit")
    body = b"audited"
    presign = api.ok(
        "/v1/uploads/presign",
        {
            "mime": "text/plain",
            "size_bytes": len(body),
            "actor": "user:42",
            "key_base": "01JAUDIT1",
        },
    )
    upload = presign["upload"]
    requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30)
    done = api.ok("/v1/uploads/complete", {"intent_token": presign["intent_token"]})
    api.ok("/v1/downloads/presign", {"object_key": done["object_key"], "actor": "user:42"})
    multi = api.ok(
        "/v1/uploads/presign", {"mime": "text/plain", "size_bytes": 10, "multipart": "force"}
    )
    token, upload_id = multi["intent_token"], multi["upload"]["upload_id"]
    api.ok("/v1/uploads/parts", {"intent_token": token, "part_numbers": [1]})
    api.ok(
        "/v1/uploads/presign/part", {"intent_token": token, "uploadId": upload_id, "partNumber": 1}
    )
    api.ok("/v1/uploads/refresh", {"intent_token": token})
    api.ok("/v1/uploads/abort", {"intent_token": token})
    # Refusals, before and after a plan.
    api.post("/v1/uploads/presign", {"mime": "image/gif", "size_bytes": 1})
    api.post("/v1/uploads/complete", {"intent_token": token})
    api.post("/v1/uploads/complete", {"intent_token": "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"})

    lines = lines_of(caplog)
    fields = [parse(line) for line in lines]
    assert [(f["decision"], f["outcome"]) for f in fields] == [
        ("presign", "ok"),
        ("complete", "ok"),
        ("download", "ok"),
        ("presign", "ok"),
        ("parts", "ok"),
        ("part", "ok"),
        ("refresh", "ok"),
        ("abort", "ok"),
        ("presign", "mime_not_allowed"),
        ("complete", "conflict"),
        ("complete", "signature_invalid"),
    ]
    first = fields[0]
    # The spec's checklist: key_base, object_key, mime, size_bytes, strategy, requester.
    assert first["key_base"] == "01JAUDIT1"
    assert first["object_key"] == presign["object_key"]
    assert first["mime"] == "text/plain"
    assert first["size_bytes"] == str(len(body))
    assert first["strategy"] == "single"
    assert first["requester"] == REQUESTER and first["actor"] == "user:42"
    assert first["intent"] and first["profile"] == "default"
    assert set(first) <= set(FIELDS)
    assert fields[1]["size_bytes"] == str(len(body)) and fields[1]["actor"] == "user:42"
    assert fields[2]["object_key"] == done["object_key"] and fields[2]["actor"] == "user:42"
    assert fields[3]["strategy"] == "multipart"
    assert fields[4]["parts"] == "1" and fields[5]["parts"] == "1"
    assert fields[8]["mime"] == "image/gif" and "object_key" not in fields[8]
    assert fields[10] == {
        "time": fields[10]["time"],
        "decision": "complete",
        "outcome": "signature_invalid",
        "requester": REQUESTER,
    }
    for line in lines:
        no_secret(line, API_TOKEN, presign["intent_token"], token, upload["url"])


def test_json_lines_and_off(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    import dataclasses

    from signer.models import PresignRequest
    from signer.uploads import presign_upload

    caplog.set_level(logging.INFO, logger="signer.audit")
    request = PresignRequest(mime="text/plain", size_bytes=3, actor="user:7")
    for fmt in ("json", "off"):
        changed = dataclasses.replace(settings, audit_format=fmt)
        presign_upload(SignerService(changed, Storage.from_settings(changed)), request, "api-t")
    lines = lines_of(caplog)
    assert len(lines) == 1
    decoded: dict[str, Any] = json.loads(lines[0])
    assert decoded["decision"] == "presign" and decoded["outcome"] == "ok"
    assert decoded["size_bytes"] == 3 and decoded["actor"] == "user:7"
    assert decoded["requester"] == "api-t"
    no_secret(lines[0])


def test_the_server_writes_audit_lines_bare_and_redacted() -> None:
    """Under ``signer serve`` an audit line is the whole log line (no level prefix), so a
    JSON line parses as JSON; it still goes through the redacting formatter."""
    from signer.server import RedactingFormatter, log_config

    config = log_config()
    assert config["loggers"]["signer.audit"] == {
        "handlers": ["audit"],
        "level": "INFO",
        "propagate": False,
    }
    handler = config["handlers"]["audit"]
    assert handler["stream"] == "ext://sys.stderr"
    bare = config["formatters"][handler["formatter"]]
    assert bare == {"()": RedactingFormatter, "fmt": "%(message)s"}
