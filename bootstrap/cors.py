"""Browsers on the app's origins may talk to storage directly; other origins may not.

Two mechanisms, picked by the server:

* MinIO answers ``NotImplemented`` to PutBucketCors. Its CORS is the server-wide
  ``api cors_allow_origin`` setting (see minio_api.py), whose default ``*`` lets every web
  site read storage's answers, so it is always set. MinIO treats an empty value as ``*``; when
  no origin is declared the value becomes ``https://cors-disabled.invalid`` (``.invalid``
  never resolves, RFC 2606), which no browser can send as its Origin, so cross-origin
  requests get no CORS headers.
* Other S3 servers get one PutBucketCors rule per bucket: the declared origins, methods
  GET/PUT/POST/HEAD, request headers Content-Type, Content-MD5 and x-amz-*, exposing ETag
  (a browser needs each part's ETag to complete a multipart upload). The rule replaces the
  bucket's CORS configuration: the declared origins are the whole truth. With no origins
  declared the one rule allows only ``https://cors-disabled.invalid``, as on MinIO: a bucket
  without rules is not enough, since some servers then answer every origin (SeaweedFS: its
  ``-s3.allowedOrigins`` defaults to ``*``).

``verify`` checks real behaviour: a preflight (OPTIONS with Origin and
Access-Control-Request-Method: PUT) from a declared origin is echoed in
Access-Control-Allow-Origin and one from an undeclared origin is not; and after a real PUT
(a presigned URL, as a browser would use it) with an Origin header, ETag is listed in
Access-Control-Expose-Headers. The probe object is removed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own server's CORS answer
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from minio.error import S3Error

from bootstrap import minio_api
from bootstrap.minio_api import ApiConfig, ApiValue
from bootstrap.s3 import PROBE_PREFIX, Clients, is_code
from bootstrap.settings import ANY_ORIGIN
from bootstrap.step import Change, Kind, Step, VerifyError
from common.errors import PermanentError

CORS_NONE = "https://cors-disabled.invalid"
# Never declared (``.invalid``), so a preflight from it must not be echoed.
PROBE_ORIGIN = "https://probe.minio-stack.invalid"
METHODS = ("GET", "HEAD", "POST", "PUT")
ALLOWED_HEADERS = ("content-md5", "content-type", "x-amz-*")
EXPOSE_HEADERS = ("etag",)
_MAX_PREFLIGHTS = 5  # checking a few declared origins proves the setting; all would be slow


# --- MinIO: the api cors_allow_origin setting -------------------------------------------------


@dataclass(frozen=True)
class MinioDesired:
    origins: tuple[str, ...]  # ("*",) any, () none, else sorted origins
    api: ApiConfig  # all managed api keys: every write carries them (minio_api.py says why)
    probe_bucket: str  # where the verification preflight and PUT go

    @property
    def value(self) -> str:
        return setting_value(self.origins)


def setting_value(origins: tuple[str, ...]) -> str:
    return CORS_NONE if not origins else ",".join(origins)


def normalise(value: str | None) -> tuple[str, ...]:
    """MinIO's reading of cors_allow_origin: unset or empty means ``*``."""
    if not value:
        return (ANY_ORIGIN,)
    items = sorted({v.strip() for v in value.split(",") if v.strip()})
    return (ANY_ORIGIN,) if ANY_ORIGIN in items else tuple(items)


def minio_read(clients: Clients, desired: MinioDesired) -> ApiValue:
    return minio_api.read_for_run(clients)[minio_api.CORS_ALLOW_ORIGIN]


def minio_diff(current: ApiValue, desired: MinioDesired) -> list[Change]:
    have, want = normalise(current.effective), normalise(desired.value)
    if have == want:
        return []
    name = minio_api.env_name(minio_api.CORS_ALLOW_ORIGIN)
    if current.env is not None:
        raise PermanentError(
            f"{name}={current.env} is set in MinIO's environment and overrides the admin config",
            hint=f"unset {name} where MinIO runs, or set it to {desired.value}",
        )
    return [Change(Kind.UPDATE, "api cors_allow_origin", ",".join(have), desired.value)]


def minio_verify(clients: Clients, desired: MinioDesired) -> dict[str, Any]:
    current = minio_read(clients, desired)  # read again only if this run wrote the config
    if normalise(current.effective) != normalise(desired.value):
        raise VerifyError(
            f"MinIO reads back cors_allow_origin={current.effective}, not {desired.value}"
        )
    observed = check_behaviour(clients, desired.probe_bucket, desired.origins)
    return {**current.observe(), **observed}


def minio_observe(current: ApiValue) -> dict[str, Any]:
    return current.observe()


def minio_step(
    origins: tuple[str, ...], api: ApiConfig, probe_bucket: str
) -> Step[ApiValue, MinioDesired]:
    desired = MinioDesired(origins, api, probe_bucket)
    return Step(
        "cors",
        "server",
        desired,
        minio_read,
        minio_diff,
        minio_api.apply_step,
        minio_verify,
        minio_observe,
    )


# --- other S3 servers: PutBucketCors ---------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    expose: tuple[str, ...]

    @classmethod
    def of(
        cls,
        origins: Iterable[str],
        methods: Iterable[str],
        headers: Iterable[str],
        expose: Iterable[str],
    ) -> Rule:
        """Normalised: sorted, methods upper-case, header names lower-case (they are case-blind)."""
        return cls(
            tuple(sorted(set(origins))),
            tuple(sorted({m.upper() for m in methods})),
            tuple(sorted({h.lower() for h in headers})),
            tuple(sorted({h.lower() for h in expose})),
        )

    def describe(self) -> str:
        return f"origins {','.join(self.origins)}; methods {','.join(self.methods)}"


@dataclass(frozen=True)
class BucketDesired:
    bucket: str
    origins: tuple[str, ...]

    def rule(self) -> Rule:
        return Rule.of(self.origins, METHODS, ALLOWED_HEADERS, EXPOSE_HEADERS)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_rules(xml: bytes | str) -> tuple[Rule, ...]:
    root = ET.fromstring(xml)  # noqa: S314 - the answer of the server we configure
    rules = []
    for rule in root:
        if _local(rule.tag) != "CORSRule":
            continue
        fields: dict[str, list[str]] = {}
        for child in rule:
            fields.setdefault(_local(child.tag), []).append((child.text or "").strip())
        rules.append(
            Rule.of(
                fields.get("AllowedOrigin", []),
                fields.get("AllowedMethod", []),
                fields.get("AllowedHeader", []),
                fields.get("ExposeHeader", []),
            )
        )
    return tuple(rules)


def rules_xml(rules: tuple[Rule, ...]) -> bytes:
    root = ET.Element("CORSConfiguration", xmlns="http://s3.amazonaws.com/doc/2006-03-01/")
    for rule in rules:
        el = ET.SubElement(root, "CORSRule")
        for tag, values in (
            ("AllowedOrigin", rule.origins),
            ("AllowedMethod", rule.methods),
            ("AllowedHeader", rule.headers),
            ("ExposeHeader", rule.expose),
        ):
            for value in values:
                ET.SubElement(el, tag).text = value
    # typeshed types tostring() with a named encoding as Any; UTF-8 always gives bytes.
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return xml


def bucket_read(clients: Clients, desired: BucketDesired) -> tuple[Rule, ...]:
    # minio-py has no bucket-CORS call: GetBucketCors is a raw call (s3.py signs it).
    try:
        xml = clients.bucket_call("GET", desired.bucket, "cors")
    except S3Error as exc:
        if is_code(exc, "NoSuchCORSConfiguration", "NoSuchBucket"):
            return ()
        raise
    return parse_rules(xml)


def bucket_diff(current: tuple[Rule, ...], desired: BucketDesired) -> list[Change]:
    want = (desired.rule(),)
    if current == want:
        return []
    what = f"CORS rules of {desired.bucket}"
    after = want[0].describe()
    if not current:
        return [Change(Kind.CREATE, what, None, after, want)]
    before = " | ".join(r.describe() for r in current)
    return [Change(Kind.UPDATE, what, before, after, want)]


def bucket_apply(clients: Clients, desired: BucketDesired, changes: list[Change]) -> list[Change]:
    for change in changes:
        body = rules_xml(change.payload)
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - S3 requires it
        clients.bucket_call("PUT", desired.bucket, "cors", body=body, headers={"Content-MD5": md5})
    return changes


def bucket_verify(clients: Clients, desired: BucketDesired) -> dict[str, Any]:
    rules = bucket_read(clients, desired)
    if rules != (desired.rule(),):
        raise VerifyError(f"the server reads back other CORS rules for {desired.bucket}")
    return {**bucket_observe(rules), **check_behaviour(clients, desired.bucket, desired.origins)}


def bucket_observe(current: tuple[Rule, ...]) -> dict[str, Any]:
    return {"rules": [r.describe() for r in current]}


def bucket_step(bucket: str, origins: tuple[str, ...]) -> Step[tuple[Rule, ...], BucketDesired]:
    return Step(
        "cors",
        bucket,
        BucketDesired(bucket, origins or (CORS_NONE,)),
        bucket_read,
        bucket_diff,
        bucket_apply,
        bucket_verify,
        bucket_observe,
    )


# --- real behaviour, both mechanisms ---------------------------------------------------------


def preflight(clients: Clients, bucket: str, origin: str) -> str | None:
    """Access-Control-Allow-Origin of a browser's preflight for a PUT from ``origin``."""
    resp = clients.anonymous(
        "OPTIONS",
        f"/{bucket}/{PROBE_PREFIX}preflight",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    return resp.headers.get("Access-Control-Allow-Origin")


def check_behaviour(clients: Clients, bucket: str, origins: tuple[str, ...]) -> dict[str, Any]:
    allow_any = origins == (ANY_ORIGIN,)
    real = [o for o in origins if o != CORS_NONE]
    declared = [] if allow_any else real[:_MAX_PREFLIGHTS]
    for origin in declared:
        got = preflight(clients, bucket, origin)
        if got not in (origin, "*"):
            raise VerifyError(
                f"a preflight from {origin} was refused (Access-Control-Allow-Origin: {got})"
            )
    got = preflight(clients, bucket, PROBE_ORIGIN)
    if allow_any and got not in (PROBE_ORIGIN, "*"):
        raise VerifyError(
            f"CORS allows any origin, but a preflight from {PROBE_ORIGIN} was refused"
        )
    if not allow_any and got is not None:
        raise VerifyError(
            f"a preflight from an undeclared origin was allowed (Access-Control-Allow-Origin: "
            f"{got})",
            hint="another CORS setting (a proxy in front of storage?) allows every origin",
        )
    observed: dict[str, Any] = {
        "preflight_declared": "allowed" if declared else None,
        "preflight_undeclared": "allowed" if allow_any else "refused",
    }
    if declared or allow_any:
        observed["expose_etag"] = _put_exposes_etag(
            clients, bucket, declared[0] if declared else PROBE_ORIGIN
        )
    return {k: v for k, v in observed.items() if v is not None}


def _put_exposes_etag(clients: Clients, bucket: str, origin: str) -> bool:
    key = f"{PROBE_PREFIX}cors-probe-{secrets.token_hex(6)}"
    s3 = clients.s3
    url = s3.presigned_put_object(bucket, key, timedelta(minutes=5))
    try:
        resp = clients.send("PUT", url, data=b"minio-stack CORS probe", headers={"Origin": origin})
        if resp.status_code != 200:
            raise VerifyError(
                f"a presigned PUT with Origin {origin} answered HTTP {resp.status_code}"
            )
    finally:
        clients.retry(s3.remove_object, bucket, key)
    exposed = {
        h.strip().lower() for h in resp.headers.get("Access-Control-Expose-Headers", "").split(",")
    }
    if "etag" not in exposed:
        raise VerifyError(
            f"after a PUT from {origin}, ETag is not in Access-Control-Expose-Headers",
            hint="browsers then cannot read part ETags to complete multipart uploads",
        )
    return True
