"""A distributed, erasure-coded MinIO (4 nodes x 2 drives) loses a node and loses nothing.

The real cluster (tests/minio_cluster.py), with docker-compose.distributed.yaml's nginx
balancer in front: bootstrap converges it and the signer works against it; with one node
killed, uploads and downloads keep working, both the signer's (pointed at a surviving node)
and plain presigned URLs (through a surviving node and through the balancer); after the node
returns, MinIO heals what was written without it onto its drives, and every object reads back
intact through every node.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from minio.error import S3Error

from signer.app import create_app
from signer.settings import load
from tests.bootstrap.conftest import SIGNER_KEY, SIGNER_SECRET, run_cli
from tests.minio_cluster import ClusterBalancer, MinioCluster
from tests.signer.conftest import API_TOKEN, POLICY_YAML, TOKEN_SECRET, Api, RunningSigner

pytestmark = pytest.mark.slow

BUCKET = "cluster-data"  # plain S3 objects (root)
KIT_BUCKET = "uploads"  # the bucket bootstrap makes and the signer uses
VICTIM = 3  # the node that is killed; node 1 serves the signer throughout
HEAL_TIMEOUT = 90
Ref = tuple[str, str]  # (bucket, key)


def _read(cluster: MinioCluster, node: int, ref: Ref) -> bytes:
    response = cluster.client(node).get_object(*ref)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _send(
    method: str, url: str, retried: list[str], data: bytes | None = None, headers=None
) -> requests.Response:
    """One presigned request, as an S3 client sends it: a 503 SlowDown is retried (bounded),
    which S3 defines as "try again" and every AWS SDK does. Retries are recorded, not hidden."""
    for attempt in range(1, 5):
        response = requests.request(method, url, data=data, headers=headers, timeout=30)
        if response.status_code != 503:
            return response
        retried.append(f"{method} {url.split('?')[0]}: 503 (attempt {attempt})")
        time.sleep(0.5 * attempt)
    return response


def _payload(i: int) -> bytes:
    # Sizes from a few bytes to past MinIO's inline limit (128 KiB), so both inline objects
    # (data in xl.meta) and part files are exercised.
    return os.urandom(17 + (i * 37_001) % 300_000)


# --- bootstrap and the signer on the cluster ------------------------------------------------------


def _bootstrap_env(cluster: MinioCluster, endpoint: str) -> dict[str, str]:
    return {
        "MINIO_ENDPOINT": endpoint,
        "MINIO_ROOT_USER": cluster.access_key,
        "MINIO_ROOT_PASSWORD": cluster.secret_key,
        "MINIO_BUCKET": KIT_BUCKET,
        "CORS_ALLOWED_ORIGINS": "https://app.example.com",
        "SIGNER_ACCESS_KEY": SIGNER_KEY,
        "SIGNER_SECRET_KEY": SIGNER_SECRET,
        "BOOTSTRAP_TIMEOUT": "120s",
    }


@pytest.fixture(scope="module")
def bootstrapped(minio_cluster: MinioCluster, cluster_balancer: ClusterBalancer) -> dict:
    """bootstrap run once through the balancer, as docker-compose.distributed.yaml runs it."""
    done = run_cli(
        ["bootstrap", "--json"], _bootstrap_env(minio_cluster, cluster_balancer.endpoint)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cluster_api(
    minio_cluster: MinioCluster, bootstrapped: dict, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """A real signer with bootstrap's signer identity, pointed at node 1 (never killed)."""
    policy = tmp_path_factory.mktemp("cluster-policy") / "policy.yaml"
    policy.write_text(POLICY_YAML)
    env = {
        "SIGNER_S3_ENDPOINT": minio_cluster.node(1).endpoint,
        "SIGNER_PUBLIC_ENDPOINT": minio_cluster.node(1).endpoint,
        "SIGNER_ACCESS_KEY": SIGNER_KEY,
        "SIGNER_SECRET_KEY": SIGNER_SECRET,
        "MINIO_BUCKET": KIT_BUCKET,
        "SIGNER_API_TOKENS": API_TOKEN,
        "SIGNER_TOKEN_SECRETS": TOKEN_SECRET,
        "SIGNER_POLICY_FILE": str(Path(policy)),
        "SIGNER_RATE_LIMIT": "0",
        "SIGNER_STORAGE_TIMEOUT": "10s",
    }
    running = RunningSigner(create_app(load(env))).start()
    yield Api(running.url)
    running.stop()


def _signer_upload(api: Api, body: bytes, retried: list[str], **fields) -> dict:
    """presign → PUT → complete through the signer; returns the complete answer."""
    intent = api.ok("/v1/uploads/presign", {"content_type": "application/octet-stream",
                                            "size_bytes": len(body), **fields})  # fmt: skip
    upload = intent["upload"]
    if intent["strategy"] == "single":
        sent = _send("PUT", upload["url"], retried, body, upload["headers"])
        assert sent.status_code == 200, sent.text
        return api.ok("/v1/uploads/complete", {"intent_token": intent["intent_token"]})
    parts, size = [], upload["part_size"]
    for part in upload["parts"]:
        n = part["part_number"]
        sent = _send("PUT", part["url"], retried, body[(n - 1) * size : n * size], part["headers"])
        assert sent.status_code == 200, sent.text
        parts.append({"part_number": n, "etag": sent.headers["ETag"]})
    return api.ok("/v1/uploads/complete", {"intent_token": intent["intent_token"], "parts": parts})


def test_bootstrap_converges_the_cluster(
    minio_cluster: MinioCluster, cluster_balancer: ClusterBalancer, bootstrapped: dict
) -> None:
    assert bootstrapped["server"] == "minio"
    steps = {s["step"]: s for s in bootstrapped["steps"]}
    assert steps["bucket"]["status"] == "created" and steps["identity"]["status"] == "created"
    # CORS and stale-upload expiry are cluster-wide admin config: set (or already right).
    assert {s["status"] for s in steps.values()} <= {"created", "changed", "unchanged"}
    assert all(s["verified"] for s in steps.values() if s["status"] in ("created", "changed"))
    # Converged on every node, not just the one bootstrap reached: a second run through
    # another node finds everything as declared.
    again = run_cli(["bootstrap", "--json"],
                    _bootstrap_env(minio_cluster, minio_cluster.node(4).endpoint))  # fmt: skip
    assert again.returncode == 0, again.stdout
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"unchanged"}


def test_the_signer_works_against_the_cluster(
    minio_cluster: MinioCluster, cluster_api: Api
) -> None:
    assert requests.get(cluster_api.base_url + "/readyz", timeout=10).status_code == 200
    body = os.urandom(200_000)
    done = _signer_upload(cluster_api, body, [])
    assert requests.get(done["get_url"], timeout=30).content == body
    # Stored on the cluster, readable through any node.
    for node in minio_cluster.nodes:
        assert _read(minio_cluster, node.index, (KIT_BUCKET, done["object_key"])) == body


# --- one node down -----------------------------------------------------------------------------


def test_one_node_down_keeps_uploads_and_downloads_working_and_heals(
    minio_cluster: MinioCluster, cluster_balancer: ClusterBalancer, cluster_api: Api
) -> None:
    cluster = minio_cluster
    client = cluster.client(1)
    client.make_bucket(BUCKET)
    expected: dict[Ref, str] = {}

    for i in range(12):
        data = _payload(i)
        cluster.client(1 + i % 4).put_object(BUCKET, f"before/{i}.bin", io.BytesIO(data), len(data))
        expected[(BUCKET, f"before/{i}.bin")] = hashlib.sha256(data).hexdigest()

    cluster.kill_node(VICTIM)
    assert cluster.cluster_status(VICTIM) is None
    # Write quorum survives one node (6 of 8 drives); every survivor says so.
    for node in cluster.nodes:
        if node.index != VICTIM:
            cluster.wait_healthy(node.index, timeout=60)
    retried: list[str] = []
    during: list[Ref] = []

    # The signer (pointed at node 1): single and multipart uploads, and their downloads.
    for i, fields in enumerate([{}, {}, {"multipart": "force"}]):
        body = _payload(200 + i) if not fields else os.urandom(6 * 1024 * 1024)
        done = _signer_upload(cluster_api, body, retried, **fields)
        assert done["size_bytes"] == len(body)
        fetched = _send("GET", done["get_url"], retried)
        assert fetched.status_code == 200 and fetched.content == body
        expected[(KIT_BUCKET, done["object_key"])] = hashlib.sha256(body).hexdigest()
        during.append((KIT_BUCKET, done["object_key"]))
    # /readyz stays 200: the cluster keeps quorum.
    assert requests.get(cluster_api.base_url + "/readyz", timeout=30).status_code == 200

    # Plain presigned URLs for a surviving node and for the balancer in front of all four
    # (which must route around the dead node).
    for i in range(12):
        key = f"during/{i}.bin"
        data = _payload(100 + i)
        presigner = client if i % 2 else cluster_balancer.client()
        url = presigner.presigned_put_object(BUCKET, key, expires=timedelta(minutes=5))
        response = _send("PUT", url, retried, data)
        assert response.status_code == 200, response.text
        expected[(BUCKET, key)] = hashlib.sha256(data).hexdigest()
        during.append((BUCKET, key))
    # A multipart object too (minio-py splits at part_size).
    big = os.urandom(11 * 1024 * 1024)
    client.put_object(BUCKET, "during/multipart.bin", io.BytesIO(big), len(big),
                      part_size=5 * 1024 * 1024)  # fmt: skip
    expected[(BUCKET, "during/multipart.bin")] = hashlib.sha256(big).hexdigest()
    during.append((BUCKET, "during/multipart.bin"))

    for n, ((bucket, key), digest) in enumerate(expected.items()):
        presigner = client if n % 2 else cluster_balancer.client()
        url = presigner.presigned_get_object(bucket, key, expires=timedelta(minutes=5))
        response = _send("GET", url, retried)
        assert response.status_code == 200, f"{key}: {response.status_code} {response.text}"
        assert hashlib.sha256(response.content).hexdigest() == digest, key
    # The balancer did meet the dead node, and routed around it.
    assert f'upstream: "http://{cluster.node(VICTIM).host}' in cluster_balancer.log_tail(400)
    listed = {(BUCKET, o.object_name) for o in client.list_objects(BUCKET, recursive=True)}
    assert listed == {ref for ref in expected if ref[0] == BUCKET}

    # The node returns with the same drives; objects written without it are healed onto it.
    assert all(cluster.object_drives(VICTIM, *ref) == [] for ref in during)
    cluster.start_node(VICTIM)
    for node in cluster.nodes:
        cluster.wait_healthy(node.index, timeout=120)
    # Straight away, every object reads back through the balancer, which now routes to the
    # returned node too (and retries a 404 from it on another node, see the compose file).
    lb = cluster_balancer.client()
    for (bucket, key), digest in expected.items():
        url = lb.presigned_get_object(bucket, key, expires=timedelta(minutes=5))
        response = _send("GET", url, retried)
        assert response.status_code == 200, f"{key} via the balancer: {response.status_code}"
        assert hashlib.sha256(response.content).hexdigest() == digest, key
    # Through the returned node itself, objects written while it was away can answer
    # NoSuchKey for a while (seen for up to ~15 s: it has not reconnected to every peer yet,
    # and MinIO counts unreachable drives as absent rather than failing the read). So while
    # healing, a NoSuchKey through it means "not yet" (counted); the final check is strict.
    # A read through the returned node finds its drives lack the object and queues a heal
    # (MinIO's MRF queue; the background scanner would get there too, much later). Reads are
    # repeated for what is still missing, since a queued heal can be dropped under load.
    started = time.monotonic()
    not_yet: list[str] = []
    missing = list(during)
    while missing and time.monotonic() - started < HEAL_TIMEOUT:
        for ref in missing:
            try:
                _read(cluster, VICTIM, ref)
            except S3Error as exc:
                if exc.code != "NoSuchKey":
                    raise
                not_yet.append(ref[1])
        time.sleep(2)
        missing = [
            ref
            for ref in during
            if len(cluster.object_drives(VICTIM, *ref)) < cluster.drives_per_node
        ]
    healed_in = time.monotonic() - started
    assert not missing, f"not healed onto node {VICTIM} within {HEAL_TIMEOUT}s: {missing}"

    checked = 0
    for node in cluster.nodes:
        for ref, digest in expected.items():
            got = hashlib.sha256(_read(cluster, node.index, ref)).hexdigest()
            assert got == digest, f"{ref} via node {node.index}"
            checked += 1
    assert checked == len(expected) * len(cluster.nodes)
    print(
        f"distributed: {len(expected)} objects ({len(during)} written with node {VICTIM} down, "
        f"3 of them through the signer), {checked} reads checked across 4 nodes, all healed "
        f"onto node {VICTIM} in {healed_in:.1f}s (transient NoSuchKey through it: "
        f"{len(not_yet)}), 503 retries: {retried}"
    )
