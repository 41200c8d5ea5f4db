"""What must survive a rotation: every object (key, version, size, ETag) and every setting.

``take`` lists every bucket the root identity sees (the managed ones and any other), every
object version in each, each bucket's policy, lifecycle and versioning, and the server-wide
``api`` settings bootstrap manages (CORS and stale-upload expiry live there on MinIO).
``compare`` names what was lost or changed; objects that appeared meanwhile are fine (clients
keep uploading during a rotation). Bootstrap's own short-lived probe objects are ignored:
they come and go while a restarted stack converges. The signer's intent records, stored
under the same prefix, are not probes and are compared like any object.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # noqa: S405 - serialises our own lifecycle objects
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from minio.datatypes import Object
from minio.error import S3Error

from bootstrap import minio_api
from bootstrap.s3 import Clients
from common.s3vocab import INTENTS_PREFIX, STATE_PREFIX
from minio import Minio

T = TypeVar("T")

MAX_PROBLEMS_SHOWN = 5


def is_transient(key: str) -> bool:
    return key.startswith(STATE_PREFIX) and not key.startswith(INTENTS_PREFIX)


@dataclass(frozen=True)
class BucketState:
    objects: dict[str, tuple[int, str]]  # "key" or "key?versionId=..." -> (size, etag)
    policy: str | None
    lifecycle: str | None
    versioning: str | None

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.objects.values())


@dataclass(frozen=True)
class Inventory:
    buckets: dict[str, BucketState]
    api: dict[str, str | None] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        return {
            "buckets": len(self.buckets),
            "objects": sum(len(b.objects) for b in self.buckets.values()),
            "bytes": sum(b.bytes for b in self.buckets.values()),
        }

    def describe(self) -> str:
        s = self.summary()
        return f"{s['buckets']} bucket(s), {s['objects']} object(s), {s['bytes']} bytes"


def _none_if(clients: Clients, codes: set[str], operation: Callable[[], T]) -> T | None:
    try:
        return clients.retry(operation)
    except S3Error as exc:
        if exc.code in codes:
            return None
        raise


def _objects(s3: Minio, bucket: str) -> dict[str, tuple[int, str]]:
    """Every object version, but the transient ones: ``key`` or ``key?versionId=...`` ->
    (size, ETag). The whole listing is one operation, so a retry starts it again."""
    objects: dict[str, tuple[int, str]] = {}
    listing: Iterator[Object] = s3.list_objects(bucket, recursive=True, include_version=True)
    for obj in listing:
        name = obj.object_name or ""
        if is_transient(name) or obj.is_delete_marker:
            continue
        version = obj.version_id if obj.version_id not in (None, "null") else None
        ident = name if version is None else f"{name}?versionId={version}"
        objects[ident] = (int(obj.size or 0), (obj.etag or "").strip('"'))
    return objects


def _bucket(clients: Clients, name: str) -> BucketState:
    s3 = clients.s3
    objects = clients.retry(_objects, s3, name)
    policy = _none_if(clients, {"NoSuchBucketPolicy"}, lambda: s3.get_bucket_policy(name))
    lifecycle = _none_if(
        clients, {"NoSuchLifecycleConfiguration"}, lambda: s3.get_bucket_lifecycle(name)
    )
    return BucketState(
        objects=objects,
        policy=json.dumps(json.loads(policy), sort_keys=True) if policy else None,
        lifecycle=ET.tostring(lifecycle.toxml(None), encoding="unicode") if lifecycle else None,
        versioning=clients.retry(s3.get_bucket_versioning, name).status,
    )


def take(clients: Clients) -> Inventory:
    buckets = {b.name: _bucket(clients, b.name) for b in clients.retry(clients.s3.list_buckets)}
    values = clients.retry(minio_api.read, clients.admin)
    api = {key: value.effective for key, value in values.items()}
    return Inventory(buckets, api)


def compare(before: Inventory, after: Inventory) -> list[str]:
    """Everything lost or changed, one line each (no object data, no secret)."""
    problems: list[str] = []
    for name, old in sorted(before.buckets.items()):
        new = after.buckets.get(name)
        if new is None:
            problems.append(f"bucket {name} is gone")
            continue
        lost = sorted(set(old.objects) - set(new.objects))
        changed = sorted(k for k, v in old.objects.items() if new.objects.get(k, v) != v)
        if lost:
            problems.append(f"{len(lost)} object(s) lost in {name}, e.g. {lost[0]}")
        if changed:
            problems.append(
                f"{len(changed)} object(s) changed (size or ETag) in {name}, e.g. {changed[0]}"
            )
        for what in ("policy", "lifecycle", "versioning"):
            if getattr(old, what) != getattr(new, what):
                problems.append(f"the {what} of bucket {name} changed")
    for key, value in sorted(before.api.items()):
        if after.api.get(key) != value:
            problems.append(f"api {key} changed from {value!r} to {after.api.get(key)!r}")
    return problems[:MAX_PROBLEMS_SHOWN]
