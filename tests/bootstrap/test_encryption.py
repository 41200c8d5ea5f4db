"""encryption: objects encrypted at rest (SSE-S3) by default, against real MinIO servers.

The settings and MinIO's KMS key (pure), the step on a MinIO with a KMS key and on one without,
and the whole path a user takes: bootstrap, then the signer's default profile presigns an
upload whose HEAD shows ``x-amz-server-side-encryption: AES256``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from minio.sseconfig import Rule, SSEConfig
from starlette.testclient import TestClient

from bootstrap import encryption
from bootstrap.converge import run
from bootstrap.report import Status
from bootstrap.s3 import PROBE_PREFIX, Clients
from bootstrap.settings import (
    KMS_KEY_NAME,
    generate_kms_key,
    load,
    minio_kms_key,
)
from bootstrap.step import Kind, VerifyError
from common.errors import ConfigError
from signer.app import create_app
from signer.settings import load as load_signer
from tests.bootstrap.conftest import (
    SIGNER_KEY,
    SIGNER_SECRET,
    CountingPool,
    env_for,
    run_cli,
    settings_for,
)

SECRET = "a-generated-secret-of-more-than-32-characters"
SSE = "x-amz-server-side-encryption"


def steps(report) -> dict[str, Status]:
    return {f"{s.step}[{s.target}]": s.status for s in report.steps}


def sse_of(server, bucket: str, key: str) -> str | None:
    return server.client().stat_object(bucket, key).metadata.get(SSE)


# --- settings and MinIO's KMS key (pure) -----------------------------------------------------


def _entry_env(**overrides: str | None) -> dict[str, str]:
    return env_for(None, MINIO_ROOT_USER="root-user", MINIO_ROOT_PASSWORD="root-pw-1", **overrides)


def test_sse_s3_is_the_default_and_off_is_a_choice():
    base = _entry_env()
    assert load(base).buckets[0].encryption == "sse-s3"
    assert load({**base, "BUCKET_ENCRYPTION": "OFF"}).buckets[0].encryption == "off"
    with pytest.raises(ConfigError) as caught:
        load({**base, "BUCKET_ENCRYPTION": "aes", "MINIO_BUCKET": "Bad_Bucket"})
    names = [name for name, _ in caught.value.problems]
    assert names == ["MINIO_BUCKET", "BUCKET_ENCRYPTION"]  # every bad variable at once
    assert "sse-s3" in caught.value.message and "off" in caught.value.message


def test_a_config_file_declares_encryption_per_bucket(tmp_path):
    config = tmp_path / "buckets.yaml"
    # Unquoted, YAML reads off as false: both mean off.
    config.write_text("buckets: [{bucket: plain, encryption: off}, {bucket: secret}]\n")
    env = _entry_env(
        MINIO_BUCKET=None,
        CORS_ALLOWED_ORIGINS=None,
        MULTIPART_ABORT_AFTER=None,
        SIGNER_ACCESS_KEY=None,
        SIGNER_SECRET_KEY=None,
    )
    buckets = load(env, config_file=config).buckets
    assert [(b.name, b.encryption) for b in buckets] == [("plain", "off"), ("secret", "sse-s3")]
    # The entrypoint needs a KMS key: one bucket still wants SSE-S3.
    with pytest.raises(ConfigError, match="MINIO_KMS_SECRET_KEY: is not set"):
        load(env, config_file=config, starts_minio=True)
    config.write_text("buckets: [{bucket: plain, encryption: 'off'}]\n")
    assert load(env, config_file=config, starts_minio=True).kms_key is None


def test_minios_own_form_is_kept_as_it_is():
    key = generate_kms_key()
    name, encoded = key.split(":")
    assert name == KMS_KEY_NAME and len(base64.b64decode(encoded)) == 32
    assert minio_kms_key(key) == key
    assert minio_kms_key(f"  {key}\n") == key
    assert generate_kms_key() != key


def test_a_plain_secret_becomes_a_stable_sha256_key():
    derived = minio_kms_key(SECRET)
    digest = hashlib.sha256(SECRET.encode()).digest()
    assert derived == f"minio-stack:{base64.b64encode(digest).decode()}"
    assert minio_kms_key(SECRET) == derived  # the same secret opens the same objects
    assert minio_kms_key(SECRET + "x") != derived


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("too-short-secret", "shorter than 32 characters"),
        ("minio-stack:not base64!", "base64 of exactly 32 bytes"),
        ("minio-stack:" + base64.b64encode(b"x" * 16).decode(), "base64 of exactly 32 bytes"),
        (":" + base64.b64encode(b"x" * 32).decode(), "key name"),
        ("bad name:" + base64.b64encode(b"x" * 32).decode(), "key name"),
    ],
)
def test_a_bad_key_is_refused_without_quoting_it(value, says):
    with pytest.raises(ValueError, match=says) as caught:
        minio_kms_key(value)
    assert value.split(":")[-1] not in str(caught.value)
    assert "openssl rand -base64 32" in str(caught.value)


def test_the_entrypoint_needs_a_kms_key_for_sse_s3():
    with pytest.raises(ConfigError) as caught:
        load(_entry_env(MULTIPART_ABORT_AFTER="soon"), starts_minio=True)
    problems = dict(caught.value.problems)
    assert set(problems) == {"MULTIPART_ABORT_AFTER", "MINIO_KMS_SECRET_KEY"}
    assert "BUCKET_ENCRYPTION=off" in problems["MINIO_KMS_SECRET_KEY"]
    # Not needed when encryption is off, or when MinIO has another KMS (KES, MinIO KMS).
    assert load(_entry_env(BUCKET_ENCRYPTION="off"), starts_minio=True).kms_key is None
    kes = _entry_env(MINIO_KMS_KES_ENDPOINT="https://kes.internal:7373")
    assert load(kes, starts_minio=True).kms_key is None
    # A standalone bootstrap starts no MinIO and never reads the key.
    assert load(_entry_env(MINIO_KMS_SECRET_KEY="short")).kms_key is None


def test_the_entrypoint_reads_the_key_from_a_file_and_never_shows_it(tmp_path):
    (tmp_path / "kms").write_text(SECRET + "\n")
    settings = load(_entry_env(MINIO_KMS_SECRET_KEY_FILE=str(tmp_path / "kms")), starts_minio=True)
    assert settings.kms_key == minio_kms_key(SECRET)
    assert settings.kms_key not in repr(settings) and SECRET not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        load(_entry_env(MINIO_KMS_SECRET_KEY="x" * 20 + ":nope"), starts_minio=True)
    assert "MINIO_KMS_SECRET_KEY" in caught.value.message and "nope" not in caught.value.message


# --- the step, pure -------------------------------------------------------------------------


def test_diff_creates_replaces_or_keeps():
    desired = encryption.Desired("uploads", minio=True)
    (create,) = encryption.diff(encryption.Current(), desired)
    assert create.kind is Kind.CREATE and str(create) == (
        "create default encryption of bucket uploads (SSE-S3, AES256)"
    )
    kms = encryption.Current("aws:kms", "arn:aws:kms:minio-stack")
    (update,) = encryption.diff(kms, desired)
    assert update.kind is Kind.UPDATE and update.before == "aws:kms (arn:aws:kms:minio-stack)"
    assert encryption.diff(encryption.Current("AES256"), desired) == []


# --- against real MinIO -----------------------------------------------------------------------


def test_a_fresh_bucket_gets_sse_s3_and_new_objects_are_encrypted(fresh_minio):
    report = run(settings_for(fresh_minio))
    assert report.ok, str(report)
    step = next(s for s in report.steps if s.step == "encryption")
    assert step.status is Status.CREATED and step.verified
    assert step.observed["kms_key"] == KMS_KEY_NAME
    assert step.observed["new_object"] == {SSE: "AES256", "read_back": True}
    config = fresh_minio.client().get_bucket_encryption("uploads")
    assert config is not None and config.rule.sse_algorithm == "AES256"
    # A plain PUT, no SSE header: the bucket's default encrypts it.
    fresh_minio.client().put_object("uploads", "plain.txt", io.BytesIO(b"hello"), 5)
    assert sse_of(fresh_minio, "uploads", "plain.txt") == "AES256"
    # verify's probe objects are gone.
    left = fresh_minio.client().list_objects("uploads", prefix=PROBE_PREFIX, recursive=True)
    assert list(left) == []


def test_plan_writes_nothing_and_a_second_run_only_probes(fresh_minio):
    fresh_minio.client().make_bucket("uploads")
    pool = CountingPool()
    plan = run(settings_for(fresh_minio), plan=True, http=pool)
    assert steps(plan)["encryption[uploads]"] is Status.CREATED
    assert pool.writes_by(fresh_minio.access_key) == []
    assert fresh_minio.client().get_bucket_encryption("uploads") is None

    assert run(settings_for(fresh_minio)).ok
    pool = CountingPool()
    again = run(settings_for(fresh_minio), http=pool)
    assert steps(again)["encryption[uploads]"] is Status.UNCHANGED
    writes = [r for r in pool.writes_by(fresh_minio.access_key) if "encryption" in r.query]
    assert writes == []  # the rule was not written again


def test_another_default_is_replaced_by_sse_s3(fresh_minio):
    client = fresh_minio.client()
    client.make_bucket("uploads")
    client.set_bucket_encryption("uploads", SSEConfig(Rule.new_sse_kms_rule(KMS_KEY_NAME)))
    report = run(settings_for(fresh_minio))
    step = next(s for s in report.steps if s.step == "encryption")
    assert step.status is Status.CHANGED, str(report)
    assert step.changes[0].before.startswith("aws:kms")
    assert client.get_bucket_encryption("uploads").rule.sse_algorithm == "AES256"


def test_verify_checks_the_server_not_the_plan(fresh_minio):
    fresh_minio.client().make_bucket("uploads")
    clients = Clients.connect(settings_for(fresh_minio))
    with pytest.raises(VerifyError, match="reads back default encryption none"):
        encryption.verify(clients, encryption.Desired("uploads", minio=True))


def test_without_a_kms_nothing_is_written_and_the_key_is_named(minio_factory):
    server = minio_factory(kms_key="")
    result = run_cli(["bootstrap", "--json"], env_for(server))
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    failed = next(s for s in doc["steps"] if s["status"] == "failed")
    assert failed["step"] == "encryption" and "MinIO has no KMS" in failed["detail"]
    assert "MINIO_KMS_SECRET_KEY" in failed["hint"] and "BUCKET_ENCRYPTION=off" in failed["hint"]
    assert server.client().list_buckets() == []  # failed while planning: nothing applied
    assert "Error: encryption[uploads] failed" in result.stderr

    off = run_cli(["bootstrap", "--json"], env_for(server, BUCKET_ENCRYPTION="off"))
    assert off.returncode == 0, off.stdout
    skipped = next(s for s in json.loads(off.stdout)["steps"] if s["step"] == "encryption")
    assert skipped["status"] == "skipped" and "BUCKET_ENCRYPTION=off" in skipped["detail"]


def test_the_signers_default_profile_uploads_encrypted_objects(fresh_minio):
    """The issue's done-when: bootstrap, then an upload URL from the signer's built-in policy;
    the PUT must send the signed SSE header, and a HEAD of the object shows AES256."""
    assert run(settings_for(fresh_minio)).ok
    signer_env = {
        "SIGNER_S3_ENDPOINT": fresh_minio.endpoint,
        "SIGNER_ACCESS_KEY": SIGNER_KEY,
        "SIGNER_SECRET_KEY": SIGNER_SECRET,
        "MINIO_BUCKET": "uploads",
        "SIGNER_API_TOKENS": "encryption-test-token-0123456789",
        "SIGNER_TOKEN_SECRETS": "encryption-test-secret-" + "0" * 32,
        "SIGNER_RATE_LIMIT": "0",
    }
    body = b"encrypted at rest\n"
    with TestClient(create_app(load_signer(signer_env))) as api:
        api.headers["Authorization"] = "Bearer encryption-test-token-0123456789"
        answer = api.post(
            "/v1/uploads/presign", json={"content_type": "text/plain", "size_bytes": len(body)}
        )
        assert answer.status_code == 200, answer.text
        presigned = answer.json()
        upload = presigned["upload"]
        assert upload["headers"][SSE] == "AES256"
        signed = parse_qs(urlsplit(upload["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        assert SSE in signed

        # Storage enforces the signed header: left out or changed, the PUT is refused.
        without = {k: v for k, v in upload["headers"].items() if k != SSE}
        refused = requests.put(upload["url"], data=body, headers=without, timeout=10)
        # MinIO answers a missing signed header with 400 AccessDenied (its message speaks of
        # unsigned headers); a changed value fails the signature.
        assert refused.status_code == 400 and "<Code>AccessDenied</Code>" in refused.text
        other = {**upload["headers"], SSE: "aws:kms"}
        refused = requests.put(upload["url"], data=body, headers=other, timeout=10)
        assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
        put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
        assert put.status_code == 200, put.text
        assert put.headers[SSE] == "AES256"
        done = api.post("/v1/uploads/complete", json={"intent_token": presigned["intent_token"]})
        assert done.status_code == 200, done.text

    key = presigned["object_key"]
    assert sse_of(fresh_minio, "uploads", key) == "AES256"
    assert fresh_minio.client().get_object("uploads", key).read() == body
