"""Reliability fixtures: a second S3 implementation (SeaweedFS) and a distributed MinIO.

Both are real servers on 127.0.0.1 (tests/seaweedfs_server.py, tests/minio_cluster.py); on a
failure their log tails are attached to the report.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.minio_cluster import ClusterBalancer, MinioCluster
from tests.seaweedfs_server import SeaweedServer

SEAWEED_BUCKET = "kit-uploads"


@pytest.fixture(scope="module")
def seaweedfs(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[SeaweedServer]:
    """One ``weed mini`` for a test module, with a signer identity scoped to SEAWEED_BUCKET
    (weed reads identities from its config file at start; it has no IAM-user API here)."""
    base = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedServer(data_dir=base / "data", log_path=base / "weed.log")
    server.add_identity("signer", buckets=(SEAWEED_BUCKET,), actions=("Read", "Write", "List"))
    server.start()
    request.module._reliability_logs = [("seaweedfs", server.log_tail)]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def minio_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[MinioCluster]:
    """4 MinIO processes x 2 drives on loopback, one erasure set; shared by a test module."""
    cluster = MinioCluster(tmp_path_factory.mktemp("minio-cluster")).start()
    request.module._reliability_logs = [
        (f"minio node {n.index}", lambda i=n.index: cluster.log_tail(i)) for n in cluster.nodes
    ]
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def cluster_balancer(
    minio_cluster: MinioCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterBalancer]:
    """docker-compose.distributed.yaml's nginx balancer config, run by Debian's nginx in front
    of the loopback cluster."""
    balancer = ClusterBalancer(minio_cluster, tmp_path_factory.mktemp("cluster-lb")).start()
    yield balancer
    balancer.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, tail in getattr(item.module, "_reliability_logs", []):
            report.sections.append((f"{name} log", tail()))
