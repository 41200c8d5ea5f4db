"""The SeaweedFS fixture is a real, private S3 server on loopback with the identities it was
given: the ground the second-implementation tests stand on."""

from __future__ import annotations

import io

import psutil
import pytest
import requests
from minio.error import S3Error

from tests.reliability.conftest import SEAWEED_BUCKET
from tests.seaweedfs_server import SeaweedServer


def test_weed_listens_on_loopback_only(seaweedfs: SeaweedServer) -> None:
    assert seaweedfs.proc is not None
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(seaweedfs.proc.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert ("127.0.0.1", seaweedfs.api_port) in listening
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, (
        f"weed listens beyond loopback: {listening}"
    )


def test_admin_round_trip_and_anonymous_is_refused(seaweedfs: SeaweedServer) -> None:
    client = seaweedfs.client()
    bucket = "smoke-roundtrip"
    client.make_bucket(bucket)
    client.put_object(bucket, "a/b.txt", io.BytesIO(b"hello"), 5, content_type="text/plain")
    response = client.get_object(bucket, "a/b.txt")
    assert response.read() == b"hello"
    response.close()
    anonymous = requests.get(f"{seaweedfs.endpoint}/{bucket}/a/b.txt", timeout=10)
    assert anonymous.status_code == 403


def test_wrong_secret_is_refused(seaweedfs: SeaweedServer) -> None:
    with pytest.raises(S3Error) as info:
        seaweedfs.client(secret_key="not-the-secret-" + "x" * 16).list_buckets()
    assert info.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")


def test_signer_identity_is_scoped_to_its_bucket(seaweedfs: SeaweedServer) -> None:
    signer = seaweedfs.identities[0]
    root = seaweedfs.client()
    if not root.bucket_exists(SEAWEED_BUCKET):
        root.make_bucket(SEAWEED_BUCKET)
    root.make_bucket("smoke-other")
    scoped = seaweedfs.client(signer.access_key, signer.secret_key)
    scoped.put_object(SEAWEED_BUCKET, "k.txt", io.BytesIO(b"ok"), 2)
    with pytest.raises(S3Error) as info:
        scoped.put_object("smoke-other", "k.txt", io.BytesIO(b"no"), 2)
    assert info.value.code == "AccessDenied"
