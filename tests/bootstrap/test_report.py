"""report: the value a run returns, its JSON shape, text and log lines."""

from __future__ import annotations

import json

from bootstrap.report import Report, Status, StepReport, logfmt
from bootstrap.step import Change, Kind
from common.errors import ExitCode

CREATE = Change(Kind.CREATE, "bucket uploads")
UPDATE = Change(Kind.UPDATE, "api cors_allow_origin", "*", "https://app.example.com")


def report(*steps: StepReport, plan: bool = False) -> Report:
    return Report(plan, "http://127.0.0.1:9000", "minio", steps)


def test_json_shape_is_stable():
    r = report(
        StepReport(
            "bucket",
            "uploads",
            Status.CREATED,
            "create bucket uploads",
            None,
            (CREATE,),
            {"exists": True},
            True,
        ),
        StepReport(
            "identity",
            "uploads",
            Status.SKIPPED,
            "SIGNER_ACCESS_KEY and SIGNER_SECRET_KEY are not set",
        ),
    )
    doc = json.loads(json.dumps(r.to_json()))
    assert set(doc) == {"ok", "plan", "exit_code", "endpoint", "server", "steps"}
    assert doc["ok"] is True and doc["plan"] is False and doc["exit_code"] == 0
    step = doc["steps"][0]
    assert set(step) == {
        "step",
        "target",
        "status",
        "detail",
        "hint",
        "changes",
        "observed",
        "verified",
    }
    assert step["changes"] == [
        {"kind": "create", "what": "bucket uploads", "from": None, "to": None}
    ]
    assert doc["steps"][1]["status"] == "skipped"


def test_exit_codes():
    ok = StepReport("bucket", "b", Status.UNCHANGED)
    failed = StepReport("privacy", "b", Status.FAILED, "applying: AccessDenied", "fix it")
    timeout = StepReport("ready", "server", Status.FAILED, "not ready", timed_out=True)
    assert report(ok).exit_code == ExitCode.OK
    assert report(ok, failed).exit_code == ExitCode.FAILED
    assert report(ok, failed).first_failure == failed
    assert report(timeout).exit_code == ExitCode.TIMEOUT


def test_text_for_people():
    r = report(
        StepReport("cors", "server", Status.CHANGED, str(UPDATE), None, (UPDATE,), verified=True),
        StepReport("privacy", "uploads", Status.FAILED, "verifying: open", "remove the ACL"),
    )
    text = str(r)
    assert (
        "cors[server]" in text and "set api cors_allow_origin: * -> https://app.example.com" in text
    )
    assert "(verified)" in text
    assert "hint: remove the ACL" in text
    assert text.splitlines()[-1] == "2 steps: 1 changed, 1 failed"
    planned = str(
        report(StepReport("bucket", "uploads", Status.CREATED, "x", None, (CREATE,)), plan=True)
    )
    assert "plan, nothing written" in planned and "would create" in planned


def test_log_lines_are_logfmt():
    line = StepReport(
        "bucket", "uploads", Status.CREATED, "create bucket uploads", None, (CREATE,)
    ).log_line()
    assert line.startswith("minio-stack event=step step=bucket target=uploads status=created")
    assert 'detail="create bucket uploads"' in line
    assert logfmt({"a": 1, "b": None, "c": 'say "hi"'}) == 'minio-stack a=1 c="say \\"hi\\""'
