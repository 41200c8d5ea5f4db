"""rotate-signer-key on the native target, end to end: URLs the running signer hands out.

A URL signed with the old key keeps working through the overlap and stops after revocation;
URLs signed with the new key work throughout. Checked with plain HTTP GETs, as a browser
would use them.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from minio.error import MinioAdminException

from bootstrap.s3 import error_code
from rotation.state import parse_time
from tests.rotation.stack import NativeStack, mode, secrets_absent, signed_by

pytestmark = pytest.mark.timeout(600)


def _status(url: str) -> int:
    return requests.get(url, timeout=10).status_code


def _user_exists(stack: NativeStack, name: str) -> bool:
    try:
        stack.server.clients(stack.root()).admin.user_info(name)
    except MinioAdminException as exc:
        assert error_code(exc) == "XMinioAdminNoSuchUser"
        return False
    return True


def test_old_urls_work_during_the_overlap_and_fail_after_finish(native_stack: NativeStack) -> None:
    stack = native_stack
    key = stack.upload_via_signer(b"signed by the old key\n")
    old_url = stack.download_url(key)
    old = stack.signer_keys()
    assert signed_by(old_url) == old.access_key

    result, report = stack.run_json("rotate-signer-key", "--overlap", "1h")

    assert result.returncode == 0, result.stderr
    new = stack.signer_keys()
    assert new.access_key == report["facts"]["new_key"] != old.access_key
    assert new.access_key.startswith(old.access_key.split("-g")[0] + "-g")
    assert secrets_absent(result.stdout + result.stderr, old.secret_key, new.secret_key)
    state = json.loads(stack.signer_state.read_text())
    assert mode(stack.signer_state) == 0o600
    assert state["phase"] == "overlap"
    assert state["old"]["access_key"] == old.access_key
    assert state["new"]["access_key"] == new.access_key

    # During the overlap: the old URL works, and the restarted signer signs with the new key.
    assert _status(old_url) == 200
    new_url = stack.download_url(key)
    assert signed_by(new_url) == new.access_key
    assert requests.get(new_url, timeout=10).content == b"signed by the old key\n"
    fresh_key = stack.upload_via_signer(b"uploaded during the overlap\n")

    # A run before the overlap ends changes nothing.
    again, status = stack.run_json("rotate-signer-key")
    assert again.returncode == 0 and status["steps"][0]["status"] == "skipped"
    assert _status(old_url) == 200

    done, finished = stack.run_json("rotate-signer-key", "--finish")

    assert done.returncode == 0, done.stderr
    assert [s["step"] for s in finished["steps"]] == ["revoke", "verify-revoked"]
    assert _status(old_url) == 403
    assert _status(new_url) == 200
    assert _status(stack.download_url(fresh_key)) == 200
    assert not _user_exists(stack, old.access_key)
    assert not stack.signer_state.exists()


def test_the_first_run_after_the_overlap_revokes(native_stack: NativeStack) -> None:
    stack = native_stack
    key = stack.upload_via_signer(b"short overlap\n")
    old_url = stack.download_url(key)

    result, report = stack.run_json("rotate-signer-key", "--overlap", "1s")
    assert result.returncode == 0, result.stderr
    assert _status(old_url) == 200
    until = parse_time(report["facts"]["overlap_until"]).timestamp()
    time.sleep(max(0.0, until - time.time()) + 1.1)  # whole seconds in the state file

    later, revoked = stack.run_json("rotate-signer-key")

    assert later.returncode == 0, later.stderr
    assert [s["status"] for s in revoked["steps"]] == ["ok", "ok"]
    assert _status(old_url) == 403
    assert _status(stack.download_url(key)) == 200
    assert not stack.signer_state.exists()


def test_a_failure_after_the_switch_rolls_back(native_stack: NativeStack) -> None:
    stack = native_stack
    old = stack.signer_keys()
    key = stack.upload_via_signer(b"rolled back\n")

    # Through harness/faulty_cli.py: the post-restart check fails.
    result, report = stack.run_json(
        "rotate-signer-key", "--overlap", "1h", fault="fail:verify-switched"
    )

    assert result.returncode == 1
    assert "at step verify-switched" in result.stderr and "rolled back" in result.stderr
    assert report["rolled_back"] is True
    assert stack.signer_keys() == old
    assert not _user_exists(stack, report["facts"]["new_key"])
    url = stack.download_url(key)
    assert signed_by(url) == old.access_key and _status(url) == 200
    assert not stack.signer_state.exists()


def test_finish_without_a_rotation_says_so(native_stack: NativeStack) -> None:
    result, report = native_stack.run_json("rotate-signer-key", "--finish")
    assert result.returncode == 0
    assert report["steps"] == [] and "nothing to finish" in report["summary"]


def test_a_crash_after_the_switch_is_finished_by_the_next_run(native_stack: NativeStack) -> None:
    stack = native_stack
    key = stack.upload_via_signer(b"crash after switch\n")
    old_url = stack.download_url(key)

    # Through harness/faulty_cli.py: the process dies (exit 99) after the restart.
    crashed = stack.run_with_fault("crash:verify-switched", "rotate-signer-key", "--overlap", "1h")
    assert crashed.returncode == 99
    state = json.loads(stack.signer_state.read_text())
    assert state["phase"] == "verify-switched"
    assert stack.signer_keys().access_key == state["new"]["access_key"]

    result, report = stack.run_json("rotate-signer-key")

    assert result.returncode == 0, result.stderr
    assert report["recovered"]["action"] == "completed"
    assert [s["step"] for s in report["steps"]] == [
        "resume-switch",
        "resume-restart",
        "resume-verify-switched",
        "overlap",
    ]
    assert json.loads(stack.signer_state.read_text())["phase"] == "overlap"
    assert _status(old_url) == 200  # the overlap holds after the recovery too
    assert signed_by(stack.download_url(key)) == state["new"]["access_key"]

    finished = stack.run("rotate-signer-key", "--finish")
    assert finished.returncode == 0, finished.stderr
    assert _status(old_url) == 403


def test_a_crash_before_the_switch_is_rolled_back(native_stack: NativeStack) -> None:
    stack = native_stack
    old = stack.signer_keys()
    env_before = stack.env_file.read_bytes()

    crashed = stack.run_with_fault("crash:verify-new-key", "rotate-signer-key")
    assert crashed.returncode == 99
    half = json.loads(stack.signer_state.read_text())["new"]["access_key"]
    assert _user_exists(stack, half)

    result, report = stack.run_json("rotate-signer-key", "--finish")

    assert result.returncode == 0, result.stderr
    assert report["recovered"]["action"] == "rolled-back"
    assert not _user_exists(stack, half)
    assert stack.env_file.read_bytes() == env_before and stack.signer_keys() == old
    assert not stack.signer_state.exists()


@pytest.mark.parametrize("flag", ["--plan", "--dry-run"])  # --dry-run: the hidden alias
def test_plan_changes_nothing(native_stack: NativeStack, flag: str) -> None:
    stack = native_stack
    old = stack.signer_keys()
    env_before = stack.env_file.read_bytes()

    result, report = stack.run_json("rotate-signer-key", "--overlap", "1h", flag)

    assert result.returncode == 0, result.stderr
    assert report["ok"] and report["dry_run"]
    statuses = {s["step"]: s["status"] for s in report["steps"]}
    assert statuses == {
        "check-current": "ok",
        "plan": "ok",
        "create-user": "skipped",
        "switch": "skipped",
        "overlap": "skipped",
    }
    assert not _user_exists(stack, report["facts"]["new_key"])
    assert stack.env_file.read_bytes() == env_before and stack.signer_keys() == old
    assert not stack.signer_state.exists()
