import hashlib

import pytest
import requests

from bench.datapath import PART_SIZE, ProxyProcess, make_file, multipart_etag
from bench.stack import BUCKET

MiB = 2**20


@pytest.fixture
def bucket(minio):
    client = minio.client()
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    return client


def test_multipart_etag_matches_what_minio_stores(bucket, tmp_path):
    path = tmp_path / "eleven.bin"
    make_file(path, 11 * MiB)
    bucket.fput_object(BUCKET, "etag-check.bin", str(path), part_size=5 * MiB)
    stored = bucket.stat_object(BUCKET, "etag-check.bin")
    assert stored.etag.strip('"') == multipart_etag(path, 5 * MiB)
    assert multipart_etag(path, 5 * MiB).endswith("-3")


def test_multipart_etag_refuses_a_single_part_file(tmp_path):
    path = tmp_path / "small.bin"
    make_file(path, 1024)
    with pytest.raises(ValueError, match="multipart"):
        multipart_etag(path, PART_SIZE)


def test_proxy_streams_the_body_into_storage(minio, bucket, tmp_path):
    path = tmp_path / "body.bin"
    make_file(path, 3 * MiB + 5)
    data = path.read_bytes()
    with ProxyProcess(minio) as proxy, open(path, "rb") as body:
        answer = requests.put(
            f"{proxy.url}/proxied/body.bin",
            data=body,
            headers={"Content-Length": str(len(data)), "Content-Type": "application/pdf"},
            timeout=60,
        )
        missing = requests.put(f"{proxy.url}/x", data=iter([b"a"]), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == len(data)
    stored = bucket.get_object(BUCKET, "proxied/body.bin")
    try:
        assert hashlib.sha256(stored.read()).digest() == hashlib.sha256(data).digest()
    finally:
        stored.close()
        stored.release_conn()
    assert bucket.stat_object(BUCKET, "proxied/body.bin").content_type == "application/pdf"
    assert missing.status_code == 411
