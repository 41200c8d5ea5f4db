"""rotate-root on the native target, end to end: the real CLI, the real `make up` stack.

Every test rotates (or fails to rotate) the package's one running stack, then checks with
its own, independent client what the server accepts and what it holds.
"""

from __future__ import annotations

import io
import json
import re

import pytest
import requests
from minio.commonconfig import Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from bootstrap import minio_api
from bootstrap.settings import Credentials
from tests.rotation.stack import NativeStack, mode, refusal, secrets_absent, sha256_of_everything

pytestmark = pytest.mark.timeout(600)

OTHER_BUCKET = "rotation-other"


def _settings_snapshot(stack: NativeStack, root: Credentials) -> dict[str, object]:
    clients = stack.server.clients(root)
    s3 = clients.s3
    out: dict[str, object] = {
        "api": {k: v.effective for k, v in minio_api.read(clients.admin).items()}
    }
    for bucket in ("uploads", OTHER_BUCKET):
        out[bucket] = {
            "policy": _or_none(lambda b=bucket: s3.get_bucket_policy(b)),
            "lifecycle": _or_none(lambda b=bucket: repr(s3.get_bucket_lifecycle(b).rules)),
            "versioning": s3.get_bucket_versioning(bucket).status,
        }
    return out


def _or_none(call):
    try:
        return call()
    except Exception as exc:  # NoSuchBucketPolicy / no lifecycle: absent is a value too
        return f"absent: {type(exc).__name__}"


def _seed(stack: NativeStack) -> tuple[str, str, bytes]:
    """Objects in two buckets (one multipart), a policy and a lifecycle; a signer-issued URL."""
    s3 = stack.server.clients(stack.root()).s3
    if not s3.bucket_exists(OTHER_BUCKET):
        s3.make_bucket(OTHER_BUCKET)
    big = bytes(range(256)) * (6 * 1024 * 1024 // 256 + 7)  # > 5 MiB: a multipart ETag
    s3.put_object(
        OTHER_BUCKET, "data/big.bin", io.BytesIO(big), len(big), part_size=5 * 1024 * 1024
    )
    s3.put_object(OTHER_BUCKET, "tmp/small.txt", io.BytesIO(b"small\n"), 6)
    s3.set_bucket_policy(
        OTHER_BUCKET,
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": ["*"]},
                        "Action": ["s3:GetObject"],
                        "Resource": [f"arn:aws:s3:::{OTHER_BUCKET}/public/*"],
                    }
                ],
            }
        ),
    )
    s3.set_bucket_lifecycle(
        OTHER_BUCKET,
        LifecycleConfig(
            [
                Rule(
                    "Enabled",
                    rule_filter=Filter(prefix="tmp/"),
                    rule_id="tmp",
                    expiration=Expiration(days=30),
                )
            ]
        ),
    )
    body = b"issued before the rotation\n"
    key = stack.upload_via_signer(body)
    return key, stack.download_url(key), body


def test_rotation_keeps_every_byte_setting_and_signed_url(native_stack: NativeStack) -> None:
    stack = native_stack
    key, url_before, body = _seed(stack)
    old = stack.root()
    digests = sha256_of_everything(stack.server, old)
    snapshot = _settings_snapshot(stack, old)
    assert len(digests) >= 3
    kms_key = stack.config()["MINIO_KMS_SECRET_KEY"]

    result, report = stack.run_json("rotate-root", "--target", "native")

    assert result.returncode == 0, result.stderr
    assert report["ok"] and report["failed_step"] is None
    assert [s["status"] for s in report["steps"]] == ["ok"] * 10
    new = stack.root()
    assert new.access_key == old.access_key and new.secret_key != old.secret_key
    assert len(new.secret_key) == 40 and new.secret_key.isalnum()
    # Secrets are written where they live, never printed.
    assert secrets_absent(result.stdout + result.stderr, old.secret_key, new.secret_key)
    assert "secrets" not in report

    assert refusal(stack.server, old) == "SignatureDoesNotMatch"
    assert refusal(stack.server, new) is None
    assert sha256_of_everything(stack.server, new) == digests
    assert _settings_snapshot(stack, new) == snapshot
    # The KMS key is not root's: rotation leaves it alone, and what it encrypted still reads.
    assert stack.config()["MINIO_KMS_SECRET_KEY"] == kms_key
    assert kms_key not in result.stdout + result.stderr
    stat = stack.server.clients(new).s3.stat_object("uploads", key)
    assert stat.metadata["x-amz-server-side-encryption"] == "AES256"
    # A URL the signer issued before the rotation still downloads after it.
    after = requests.get(url_before, timeout=10)
    assert after.status_code == 200 and after.content == body
    assert requests.get(stack.download_url(key), timeout=10).content == body

    assert mode(stack.env_file) == 0o600
    backups = sorted(stack.home.glob(".env.bak-*"))
    assert backups and all(mode(b) == 0o600 for b in backups)
    assert f"MINIO_ROOT_PASSWORD={old.secret_key}" in backups[-1].read_text()
    assert not stack.journal.exists()


def test_a_failure_after_the_restart_rolls_back(native_stack: NativeStack) -> None:
    stack = native_stack
    old = stack.root()

    # Through harness/faulty_cli.py: verify-new fails as if MinIO refused the new keys.
    result, report = stack.run_json("rotate-root", "--target", "native", fault="fail:verify-new")

    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "at step verify-new" in error[0] and "rolled back" in error[0]
    assert report["failed_step"] == "verify-new" and report["rolled_back"] is True
    statuses = {s["step"]: s["status"] for s in report["steps"]}
    assert statuses["restart"] == "ok" and statuses["rollback-restart"] == "ok"
    assert statuses["rollback-verify"] == "ok"
    # The old credentials are configured and accepted again; the ones that were tried are not.
    assert stack.root() == old
    assert refusal(stack.server, old) is None
    tried = _backup_named(stack, report, "rollback-apply")
    assert tried.secret_key != old.secret_key
    assert refusal(stack.server, tried) == "SignatureDoesNotMatch"
    assert not stack.journal.exists()
    assert secrets_absent(result.stdout + result.stderr, old.secret_key, tried.secret_key)


def _backup_named(stack: NativeStack, report: dict, step: str) -> Credentials:
    """The credentials in the .env backup the step wrote (the set in force before it)."""
    detail = next(s["detail"] for s in report["steps"] if s["step"] == step)
    name = re.search(r"backup: (\S+)\)", detail)[1]
    text = (stack.home / name).read_text()
    user = re.search(r"^MINIO_ROOT_USER=(.*)$", text, re.M)[1]
    password = re.search(r"^MINIO_ROOT_PASSWORD=(.*)$", text, re.M)[1]
    return Credentials(user, password)


def test_a_rerun_after_a_crash_rolls_back_then_rotates(native_stack: NativeStack) -> None:
    stack = native_stack
    original = stack.root()

    # Dies (exit 99, no cleanup) after MinIO restarted with the new keys, before the checks.
    crashed = stack.run_with_fault("crash:verify-old-refused", "rotate-root", "--target", "native")
    assert crashed.returncode == 99
    journal = json.loads(stack.journal.read_text())
    assert mode(stack.journal) == 0o600
    assert journal["step"] == "verify-old-refused"
    half = Credentials(journal["new"]["access_key"], journal["new"]["secret_key"])
    assert journal["old"]["secret_key"] == original.secret_key
    assert refusal(stack.server, half) is None  # the half-done state: new keys live

    result, report = stack.run_json("rotate-root", "--target", "native")

    assert result.returncode == 0, result.stderr
    assert report["recovered"]["action"] == "rolled-back"
    assert report["recovered"]["stopped_at"] == "verify-old-refused"
    final = stack.root()
    assert refusal(stack.server, final) is None
    assert final.secret_key not in (original.secret_key, half.secret_key)
    assert refusal(stack.server, original) == "SignatureDoesNotMatch"
    assert refusal(stack.server, half) == "SignatureDoesNotMatch"
    assert not stack.journal.exists()


@pytest.mark.parametrize("flag", ["--plan", "--dry-run"])  # --dry-run: the hidden alias
def test_plan_changes_nothing(native_stack: NativeStack, flag: str) -> None:
    stack = native_stack
    before = stack.env_file.read_bytes()
    backups = set(stack.home.glob(".env.bak-*"))

    result, report = stack.run_json("rotate-root", "--target", "native", flag)

    assert result.returncode == 0, result.stderr
    assert report["dry_run"] and report["ok"]
    assert [s["status"] for s in report["steps"][:3]] == ["ok", "ok", "ok"]
    assert {s["status"] for s in report["steps"][3:]} == {"skipped"}
    assert stack.env_file.read_bytes() == before
    assert set(stack.home.glob(".env.bak-*")) == backups
    assert not stack.journal.exists()
    assert refusal(stack.server, stack.root()) is None


def test_new_user_renames_root_and_says_what_it_breaks(native_stack: NativeStack) -> None:
    stack = native_stack
    old = stack.root()
    signer = stack.signer_keys()
    renamed = "rotated-admin"

    result, report = stack.run_json(
        "rotate-root", "--target", "native", "--new-user", renamed, "--show-secrets"
    )

    assert result.returncode == 0, result.stderr
    assert any("minio/minio#17565" in w for w in report["warnings"])
    assert "orphans" in result.stderr  # warnings also reach the operator on stderr
    new = stack.root()
    assert new.access_key == renamed
    assert refusal(stack.server, new) is None
    assert refusal(stack.server, old) == "InvalidAccessKeyId"
    assert refusal(stack.server, signer) is None  # the signer's own user survives a rename
    # Asked for with --show-secrets, the new credentials are printed.
    assert report["secrets"] == {"MINIO_ROOT_USER": renamed, "MINIO_ROOT_PASSWORD": new.secret_key}


def test_the_shipped_command_ignores_the_test_fault_variable(native_stack: NativeStack) -> None:
    stack = native_stack

    # The same variable that crashes the test entry point does nothing to `minio-stack`.
    shipped, report = stack.run_json(
        "rotate-root", "--target", "native", "--plan", MINIO_STACK_TEST_FAULT="crash:check-current"
    )
    assert shipped.returncode == 0, shipped.stderr
    assert report["ok"] and report["failed_step"] is None
    assert [(s["step"], s["status"]) for s in report["steps"][:1]] == [("check-current", "ok")]

    injected, failed = stack.run_json(
        "rotate-root", "--target", "native", "--plan", fault="fail:check-current"
    )
    assert injected.returncode == 1
    assert failed["failed_step"] == "check-current" and "injected failure" in failed["error"]
    assert not stack.journal.exists()
