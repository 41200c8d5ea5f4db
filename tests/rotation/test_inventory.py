"""rotation/inventory.py against a real MinIO: what `compare` catches."""

from __future__ import annotations

import dataclasses
import io
import json

from bootstrap.settings import Credentials
from rotation import inventory
from rotation.checks import Server
from tests.bootstrap.conftest import DroppingPool


def _clients(server):
    return Server(server.endpoint, "us-east-1").clients(
        Credentials(server.access_key, server.secret_key)
    )


def test_compare_names_lost_changed_and_reconfigured(fresh_minio) -> None:
    clients = _clients(fresh_minio)
    s3 = clients.s3
    s3.make_bucket("inv-bucket")
    for key in ("keep", "lose", "change", ".minio-stack/intents/abc"):
        s3.put_object("inv-bucket", key, io.BytesIO(b"v1"), 2)
    s3.put_object("inv-bucket", ".minio-stack/identity-probe-1", io.BytesIO(b"p"), 1)
    before = inventory.take(clients)
    assert before.summary() == {"buckets": 1, "objects": 4, "bytes": 8}  # the probe is ignored
    assert inventory.compare(before, inventory.take(clients)) == []

    s3.remove_object("inv-bucket", "lose")
    s3.remove_object("inv-bucket", ".minio-stack/identity-probe-1")  # probes come and go
    s3.put_object("inv-bucket", "change", io.BytesIO(b"v2!"), 3)
    s3.put_object("inv-bucket", "added", io.BytesIO(b"new"), 3)  # new objects are fine
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::inv-bucket/public/*"],
            }
        ],
    }
    s3.set_bucket_policy("inv-bucket", json.dumps(policy))

    problems = inventory.compare(before, inventory.take(clients))
    assert problems == [
        "1 object(s) lost in inv-bucket, e.g. lose",
        "1 object(s) changed (size or ETag) in inv-bucket, e.g. change",
        "the policy of bucket inv-bucket changed",
    ]


def test_take_retries_a_listing_whose_connection_drops(fresh_minio) -> None:
    """The object listing is one operation: a dropped page request lists the bucket again."""
    clients = _clients(fresh_minio)
    clients.s3.make_bucket("inv-retry")
    for key in ("a", "b"):
        clients.s3.put_object("inv-retry", key, io.BytesIO(b"v1"), 2)
    expected = inventory.take(clients)

    pool = DroppingPool(lambda method, url: method == "GET" and "versions" in url)
    dropped = inventory.take(dataclasses.replace(clients, http=pool))
    assert len(pool.dropped) == 1
    assert inventory.compare(expected, dropped) == []
    assert dropped.summary() == expected.summary() == {"buckets": 1, "objects": 2, "bytes": 4}
