"""A distributed, erasure-coded MinIO (4 nodes x 2 drives) loses a node and loses nothing.

Plain minio-py and presigned URLs against the real cluster (tests/minio_cluster.py): objects
written before and during the outage stay readable through a surviving node; after the node
returns, MinIO heals them onto its drives and every object reads back intact through every
node.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta

import pytest
import requests

from tests.minio_cluster import ClusterBalancer, MinioCluster

pytestmark = pytest.mark.slow

BUCKET = "cluster-data"
VICTIM = 3  # the node that is killed; node 1 serves the clients throughout
HEAL_TIMEOUT = 90


def _put(cluster: MinioCluster, node: int, key: str, data: bytes) -> None:
    cluster.client(node).put_object(BUCKET, key, io.BytesIO(data), len(data))


def _read(cluster: MinioCluster, node: int, key: str) -> bytes:
    response = cluster.client(node).get_object(BUCKET, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def _payload(i: int) -> bytes:
    # Sizes from a few bytes to past MinIO's inline limit (128 KiB), so both inline objects
    # (data in xl.meta) and part files are exercised.
    return os.urandom(17 + (i * 37_001) % 300_000)


def test_one_node_down_keeps_uploads_and_downloads_working_and_heals(
    minio_cluster: MinioCluster, cluster_balancer: ClusterBalancer
) -> None:
    cluster = minio_cluster
    cluster.client(1).make_bucket(BUCKET)
    expected: dict[str, str] = {}

    for i in range(12):
        data = _payload(i)
        _put(cluster, 1 + i % 4, f"before/{i}.bin", data)
        expected[f"before/{i}.bin"] = hashlib.sha256(data).hexdigest()

    cluster.kill_node(VICTIM)
    assert cluster.cluster_status(VICTIM) is None
    # Write quorum survives one node (6 of 8 drives); node 1 says so.
    cluster.wait_healthy(1, timeout=60)

    # Presigned URLs for a surviving node and for the balancer in front of all four (which
    # must route around the dead node), used by a plain HTTP client.
    client = cluster.client(1)
    during: list[str] = []
    for i in range(12):
        key = f"during/{i}.bin"
        data = _payload(100 + i)
        signer = client if i % 2 else cluster_balancer.client()
        url = signer.presigned_put_object(BUCKET, key, expires=timedelta(minutes=5))
        response = requests.put(url, data=data, timeout=30)
        assert response.status_code == 200, response.text
        expected[key] = hashlib.sha256(data).hexdigest()
        during.append(key)
    # A multipart object too (minio-py splits at part_size).
    big = os.urandom(11 * 1024 * 1024)
    client.put_object(BUCKET, "during/multipart.bin", io.BytesIO(big), len(big),
                      part_size=5 * 1024 * 1024)  # fmt: skip
    expected["during/multipart.bin"] = hashlib.sha256(big).hexdigest()
    during.append("during/multipart.bin")

    for n, (key, digest) in enumerate(expected.items()):
        signer = client if n % 2 else cluster_balancer.client()
        url = signer.presigned_get_object(BUCKET, key, expires=timedelta(minutes=5))
        response = requests.get(url, timeout=30)
        assert response.status_code == 200, f"{key}: {response.status_code}"
        assert hashlib.sha256(response.content).hexdigest() == digest, key
    # The balancer did meet the dead node, and routed around it.
    assert f"upstream: \"http://{cluster.node(VICTIM).host}" in cluster_balancer.log_tail(400)
    listed = {o.object_name for o in client.list_objects(BUCKET, recursive=True)}
    assert listed == set(expected)

    # The node returns with the same drives; objects written without it are healed onto it.
    assert all(cluster.object_drives(VICTIM, BUCKET, k) == [] for k in during)
    cluster.start_node(VICTIM)
    for node in cluster.nodes:
        cluster.wait_healthy(node.index, timeout=120)
    cluster.wait_all_drives_online(timeout=120)
    # Reading through the returned node both checks it and queues heals for what it lacks.
    for key in during:
        _read(cluster, VICTIM, key)
    deadline = time.monotonic() + HEAL_TIMEOUT
    missing = list(during)
    while missing and time.monotonic() < deadline:
        missing = [
            k
            for k in during
            if len(cluster.object_drives(VICTIM, BUCKET, k)) < cluster.drives_per_node
        ]
        if missing:
            time.sleep(1)
    assert not missing, f"not healed onto node {VICTIM} within {HEAL_TIMEOUT}s: {missing}"

    checked = 0
    for node in cluster.nodes:
        for key, digest in expected.items():
            assert hashlib.sha256(_read(cluster, node.index, key)).hexdigest() == digest, (
                f"{key} via node {node.index}"
            )
            checked += 1
    assert checked == len(expected) * len(cluster.nodes)
    print(f"distributed: {len(expected)} objects, {checked} reads checked across 4 nodes")
