"""converge/run: a whole bootstrap against real MinIO servers.

First run creates, second run changes nothing and writes nothing, --plan writes nothing,
five bootstraps at once agree, bad input fails with nothing changed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from minio.error import S3Error

from bootstrap import bucket, minio_api
from bootstrap.converge import _inert, converge, run
from bootstrap.identity import normalise_policy
from bootstrap.report import Status
from bootstrap.s3 import PROBE_PREFIX, Clients
from bootstrap.step import VerifyError
from common.errors import PermanentError
from minio import Minio
from tests.bootstrap.conftest import (
    APP_ORIGIN,
    MINIO_STACK,
    OTHER_ORIGIN,
    SIGNER_KEY,
    SIGNER_SECRET,
    CountingPool,
    env_for,
    process_env,
    run_cli,
    settings_for,
)


def statuses(doc: dict) -> dict[str, str]:
    return {f"{s['step']}[{s['target']}]": s["status"] for s in doc["steps"]}


def snapshot(server) -> dict:
    """Everything bootstrap manages, as the server reports it."""
    admin = server.admin()
    client = server.client()
    buckets = sorted(b.name for b in client.list_buckets())
    policies = {}
    for name in buckets:
        try:
            policies[name] = client.get_bucket_policy(name)
        except S3Error as exc:
            policies[name] = exc.code
    return {
        "buckets": buckets,
        "bucket_policies": policies,
        "api": admin.config_get("api"),
        "users": admin.user_list(),
        # MinIO lists a policy's actions in no fixed order: compare them as sets.
        "policy": normalise_policy(json.loads(admin.policy_info("minio-stack-signer-uploads"))),
        "objects": [o.object_name for o in client.list_objects("uploads", recursive=True)],
        "encryption": client.get_bucket_encryption("uploads").rule.sse_algorithm,
    }


def test_first_run_creates_second_run_unchanged_and_writes_nothing(module_minio):
    first = run_cli(["bootstrap", "--json"], env_for(module_minio))
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["ok"] is True and doc["plan"] is False and doc["server"] == "minio"
    assert statuses(doc) == {
        "ready[server]": "unchanged",
        "bucket[uploads]": "created",
        "privacy[uploads]": "unchanged",  # a new bucket is already private
        "encryption[uploads]": "created",  # SSE-S3 by default
        "cors[server]": "changed",  # MinIO's default * is replaced
        "uploads[server]": "changed",  # 24h default → 2h
        "staging[uploads]": "created",  # the signer's staging objects expire
        "identity[uploads]": "created",
    }
    assert all(s["verified"] for s in doc["steps"][1:])
    assert SIGNER_SECRET not in first.stdout + first.stderr

    before = snapshot(module_minio)
    pool = CountingPool()
    second = run(settings_for(module_minio), http=pool)
    assert second.ok, str(second)
    assert {s.status for s in second.steps} == {Status.UNCHANGED}
    # The only writes the root identity made were probe objects, created and removed by verify.
    root_writes = pool.writes_by(module_minio.access_key)
    assert all(r.path.startswith(f"/uploads/{PROBE_PREFIX}") for r in root_writes), root_writes
    assert not [r for r in root_writes if r.path.startswith("/minio/admin/")]  # no config writes
    assert pool.writes_by(SIGNER_KEY)  # verify did act as the signer (probe put, refused attempts)
    assert snapshot(module_minio) == before


def test_declared_behaviour_holds(module_minio):
    assert run(settings_for(module_minio)).ok  # idempotent: whatever ran before, this is the state
    base = module_minio.endpoint
    # Private: anonymous GET and LIST are refused.
    module_minio.client().put_object("uploads", "secret.txt", io.BytesIO(b"s"), 1)
    assert requests.get(f"{base}/uploads/secret.txt", timeout=10).status_code == 403
    assert requests.get(f"{base}/uploads", params={"list-type": "2"}, timeout=10).status_code == 403
    module_minio.client().remove_object("uploads", "secret.txt")

    # CORS: the declared origin passes a preflight, another does not.
    def preflight(origin):
        return requests.options(
            f"{base}/uploads/k",
            headers={"Origin": origin, "Access-Control-Request-Method": "PUT"},
            timeout=10,
        ).headers.get("Access-Control-Allow-Origin")

    assert preflight(APP_ORIGIN) == APP_ORIGIN
    assert preflight(OTHER_ORIGIN) is None
    # Stale uploads: the expiry reads back as configured.
    values = minio_api.read(module_minio.admin())
    assert values[minio_api.STALE_UPLOADS_EXPIRY].effective in ("2h", "2h0m0s")
    # Signer identity: can put/get in its bucket, cannot list buckets or change policies.
    signer = Minio(module_minio.host, SIGNER_KEY, SIGNER_SECRET, secure=False, region="us-east-1")
    signer.put_object("uploads", "from-signer", io.BytesIO(b"x"), 1)
    assert signer.get_object("uploads", "from-signer").read() == b"x"
    signer.remove_object("uploads", "from-signer")
    assert [b.name for b in signer.list_buckets()] == ["uploads"]
    with pytest.raises(S3Error) as denied:
        signer.set_bucket_policy("uploads", json.dumps({"Version": "2012-10-17", "Statement": []}))
    assert denied.value.code == "AccessDenied"


def test_plan_on_fresh_server_lists_changes_and_creates_nothing(fresh_minio):
    before = fresh_minio.admin().config_get("api")
    result = run_cli(["bootstrap", "--plan", "--json"], env_for(fresh_minio))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["plan"] is True
    assert statuses(doc)["bucket[uploads]"] == "created"
    assert statuses(doc)["identity[uploads]"] == "created"
    assert not any(s["verified"] for s in doc["steps"])
    changes = {c["what"] for s in doc["steps"] for c in s["changes"]}
    assert {
        "bucket uploads",
        "default encryption of bucket uploads",
        "api cors_allow_origin",
        "api stale_uploads_expiry",
        "user signer-uploads",
    } <= changes
    assert fresh_minio.client().list_buckets() == []
    assert fresh_minio.admin().config_get("api") == before
    assert json.loads(fresh_minio.admin().user_list() or "{}") == {}
    text = run_cli(["bootstrap", "--plan"], env_for(fresh_minio))
    assert "plan, nothing written" in text.stdout and "would create" in text.stdout


def test_five_bootstraps_at_once_agree(fresh_minio):
    env = process_env(env_for(fresh_minio))
    procs = [
        subprocess.Popen(
            [str(MINIO_STACK), "bootstrap", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    with ThreadPoolExecutor(5) as pool:
        outputs = list(pool.map(lambda p: p.communicate(timeout=120), procs))
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out)["ok"] is True
    assert [b.name for b in fresh_minio.client().list_buckets()] == ["uploads"]
    created = [statuses(json.loads(out))["bucket[uploads]"] for out, _ in outputs]
    assert created.count("created") >= 1 and set(created) <= {"created", "unchanged"}
    after = run(settings_for(fresh_minio))
    assert {s.status for s in after.steps} == {Status.UNCHANGED}, str(after)


def test_several_buckets_from_a_config_file(fresh_minio, tmp_path):
    config = tmp_path / "buckets.yaml"
    config.write_text(
        f"""
buckets:
  - bucket: uploads
    cors_allowed_origins: [{APP_ORIGIN}]
    signer_access_key: {SIGNER_KEY}
    signer_secret_key: {SIGNER_SECRET}
  - bucket: avatars
    cors_allowed_origins: ["http://localhost:3000"]
    signer_access_key: {SIGNER_KEY}
    signer_secret_key: {SIGNER_SECRET}
"""
    )
    env = env_for(
        fresh_minio,
        MINIO_BUCKET=None,
        CORS_ALLOWED_ORIGINS=None,
        MULTIPART_ABORT_AFTER=None,
        SIGNER_ACCESS_KEY=None,
        SIGNER_SECRET_KEY=None,
    )
    first = run_cli(["bootstrap", "--json", "--config", str(config)], env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(b.name for b in fresh_minio.client().list_buckets()) == ["avatars", "uploads"]
    info = json.loads(fresh_minio.admin().user_info(SIGNER_KEY))
    assert set(info["policyName"].split(",")) == {
        "minio-stack-signer-uploads",
        "minio-stack-signer-avatars",
    }
    api = minio_api.read(fresh_minio.admin())[minio_api.CORS_ALLOW_ORIGIN]
    assert api.effective == f"http://localhost:3000,{APP_ORIGIN}"  # MinIO's setting is server-wide
    second = json.loads(run_cli(["bootstrap", "--json", "--config", str(config)], env).stdout)
    assert set(statuses(second).values()) == {"unchanged"}


def test_wrong_credentials_exit_1_with_nothing_changed(minio):
    env = env_for(minio, MINIO_BUCKET="never-created", MINIO_ROOT_PASSWORD="not-the-password")
    result = run_cli(["bootstrap"], env)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ready[server] failed: the server refused the root credentials")
    assert "MINIO_ROOT_PASSWORD" in line
    assert not minio.client().bucket_exists("never-created")


def test_invalid_bucket_exit_2_naming_the_variable(minio):
    result = run_cli(["bootstrap", "--json"], env_for(minio, MINIO_BUCKET="Not_Valid"))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: invalid configuration: MINIO_BUCKET:")
    assert json.loads(result.stdout)["ok"] is False


def test_unreachable_server_times_out_with_exit_3():
    from harness.minio_server import free_port

    env = env_for(
        None,
        MINIO_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        MINIO_ROOT_USER="root-user",
        MINIO_ROOT_PASSWORD="root-password-1",
        BOOTSTRAP_TIMEOUT="1s",
    )
    result = run_cli(["bootstrap", "--json"], env)
    assert result.returncode == 3
    doc = json.loads(result.stdout)
    assert doc["server"] is None and doc["steps"][0]["step"] == "ready"
    assert "MINIO_ENDPOINT" in result.stderr


def test_a_failure_while_planning_applies_nothing(minio):
    clients = Clients.connect(settings_for(minio))
    refused = _inert("identity", "x", error=PermanentError("refused", hint="fix it"))
    reports = converge([bucket.step("conv-plan-fail"), refused], clients, plan=False)
    assert [r.status for r in reports] == [Status.SKIPPED, Status.FAILED]
    assert reports[0].detail == "nothing applied: identity[x] failed while planning"
    assert reports[1].detail == "planning: refused" and reports[1].hint == "fix it"
    assert not minio.client().bucket_exists("conv-plan-fail")


def test_a_failed_verify_stops_the_run(minio):
    clients = Clients.connect(settings_for(minio))

    def verify(clients, desired):
        raise VerifyError("the server does not behave as declared", hint="look")

    broken = dataclasses.replace(bucket.step("conv-first"), verify=verify)
    reports = converge([broken, bucket.step("conv-second")], clients, plan=False)
    assert [r.status for r in reports] == [Status.FAILED, Status.SKIPPED]
    assert reports[0].detail == "verifying: the server does not behave as declared"
    assert [c.what for c in reports[0].changes] == ["bucket conv-first"]  # it was applied
    assert reports[1].detail == "not run: bucket[conv-first] failed"
    assert not minio.client().bucket_exists("conv-second")
