"""The signer's use-cases: presign an upload (PUT, multipart or POST form), sign more parts,
complete, abort, presign a download.

Each one is core policy (``signer.core``) plus, where the use-case needs it, one or two storage
calls. Nothing is kept in memory between requests: what an upload may be travels in its
signed intent token, and what must be remembered (that an intent was completed or aborted)
is written to storage as ``.minio-stack/intents/<jti>`` with ``If-None-Match: *``, so any
replica, or a restarted one, answers the same. Each upload also stores its intent id as
``x-amz-meta-intent`` (a signed header, or a POST field), so complete only ever judges (and
deletes) an object that the same intent uploaded, never another one at the same key.

Every URL handed to a client is signed for SIGNER_PUBLIC_ENDPOINT (SigV4 signs the Host).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ulid import ULID

from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import (
    content_disposition,
    fixed_prefix,
    make_object_key,
    validate_object_key,
)
from signer.core.policy import (
    MAX_TTL,
    Profile,
    check_upload,
    choose_strategy,
    clamp_ttl,
    normalize_content_type,
    part_length,
    plan_parts,
)
from signer.core.sigv4 import Presigner, presign_post
from signer.models import (
    INITIAL_PARTS,
    AbortRequest,
    AbortResponse,
    CompletedPart,
    CompleteRequest,
    CompleteResponse,
    DownloadRequest,
    DownloadResponse,
    MultipartUpload,
    PartsRequest,
    PartsResponse,
    PartUrl,
    PostUpload,
    PresignPostRequest,
    PresignPostResponse,
    PresignRequest,
    PresignResponse,
    SingleUpload,
)
from signer.settings import STATE_PREFIX, Settings
from signer.storage import Storage, UploadGone

# A client may call complete a while after its upload URL expired (the bytes went in in time).
COMPLETE_GRACE = 3600
# A multipart intent lives as long as storage keeps an incomplete upload by default (MinIO's
# api stale_uploads_expiry, 24h), so part URLs can be re-signed for a long upload.
MULTIPART_WINDOW = 86400
# Stored with every upload (a signed header, a create header, a POST field): complete only
# ever judges, and deletes, an object that carries its own intent's id.
INTENT_HEADER = "x-amz-meta-intent"
INTENT_METADATA = "intent"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# SSE-C keys go with every part; other SSE headers only with CreateMultipartUpload.
_PER_PART_HEADER = "x-amz-server-side-encryption-customer-"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_key_id() -> str:
    # ULIDs sort by creation time, so listing a prefix lists uploads in order.
    return str(ULID())


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checksum_header(value: str) -> str:
    """``x-amz-checksum-sha256`` (base64 of the digest) from base64 or hex input."""
    text = value.strip()
    if _HEX_SHA256.fullmatch(text):
        return base64.b64encode(bytes.fromhex(text)).decode("ascii")
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "checksum_sha256 is not a SHA-256 digest",
            hint="send the digest as base64 (44 characters, as S3 wants it) or as hex "
            "(64 characters, as sha256sum prints it)",
        )
    return base64.b64encode(digest).decode("ascii")


def token_ttl(profile: Profile, strategy: str) -> int:
    wanted = profile.put_ttl + COMPLETE_GRACE
    if strategy == "multipart":
        wanted = max(wanted, MULTIPART_WINDOW)
    return min(wanted, profile.ttl_max, MAX_TTL)


@dataclass
class SignerService:
    settings: Settings
    storage: Storage
    clock: Callable[[], datetime] = _utcnow
    new_key_id: Callable[[], str] = _new_key_id
    initial_parts: int = INITIAL_PARTS
    _prefixes: list[tuple[str, Profile]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        prefixes = [
            (fixed_prefix(p.key_template, p.prefix), p)
            for p in self.settings.policy.profiles.values()
        ]
        # Longest first: a download picks the most specific profile that could have made it.
        self._prefixes = sorted(prefixes, key=lambda item: len(item[0]), reverse=True)

    # --- helpers ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    @functools.cached_property
    def _presigner(self) -> Presigner:
        s = self.settings
        return Presigner(
            endpoint=s.public_endpoint,
            access_key=s.access_key,
            secret_key=s.secret_key,
            region=s.region,
        )

    def _sign(
        self,
        method: str,
        key: str,
        *,
        now: datetime,
        expires: int,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> str:
        return self._presigner.presign(
            method=method,
            bucket=self.settings.bucket,
            key=key,
            expires=expires,
            now=now,
            headers=headers,
            query=query,
        )

    def _get_url(self, key: str, profile: Profile, filename: str | None, now: datetime) -> str:
        query = {}
        if filename:
            query["response-content-disposition"] = content_disposition("inline", filename)
        return self._sign("GET", key, now=now, expires=profile.get_ttl, query=query)

    def _issue(self, claims: dict[str, Any], profile: Profile, now: datetime) -> str:
        s = self.settings
        return s.keys.issue(
            claims,
            now=now,
            ttl=token_ttl(profile, claims["strategy"]),
            issuer=s.token_issuer,
            audience=s.token_audience,
        )

    def _claims(self, token: str) -> dict[str, Any]:
        s = self.settings
        claims = s.keys.verify(
            token, now=self.clock(), issuer=s.token_issuer, audience=s.token_audience
        )
        if claims.get("bucket") != s.bucket or not isinstance(claims.get("object_key"), str):
            raise SignerError(
                ErrorCode.SIGNATURE_INVALID,
                "intent token rejected: it was issued for another bucket",
                hint="request a new upload intent from this signer",
            )
        return claims

    def _part_url(self, claims: Mapping[str, Any], number: int, now: datetime, ttl: int) -> PartUrl:
        length = part_length(claims["size"], claims["part_size"], number)
        headers = {"Content-Length": str(length)}
        headers.update(
            {k: v for k, v in claims["headers_required"].items() if k.startswith(_PER_PART_HEADER)}
        )
        url = self._sign(
            "PUT",
            claims["object_key"],
            now=now,
            expires=ttl,
            headers=headers,
            query={"partNumber": str(number), "uploadId": claims["upload_id"]},
        )
        return PartUrl(part_number=number, url=url, headers=headers)

    def _profile_for_key(self, key: str) -> Profile:
        for prefix, profile in self._prefixes:
            if key.startswith(prefix):
                return profile
        shown = ", ".join(sorted(repr(prefix) for prefix, _ in self._prefixes))
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "object_key is outside every upload profile's prefix",
            hint=f"the signer presigns downloads of keys starting with: {shown}",
        )

    def _intent_profile(self, claims: Mapping[str, Any]) -> Profile:
        # The policy may have changed since the intent was issued; the intent stays valid.
        profiles = self.settings.policy.profiles
        return profiles.get(claims.get("profile", "")) or self.settings.policy.profile(None)

    def _used(self, claims: Mapping[str, Any]) -> None:
        state = self.storage.intent_state(claims["jti"])
        if state is not None:
            raise SignerError(
                ErrorCode.CONFLICT,
                f"this upload intent was already {state}",
                hint="an intent token is single-use; request a new upload intent",
            )

    # --- use-cases ----------------------------------------------------------------------------

    def upload_calls_storage(self, req: PresignRequest) -> bool:
        """Whether ``presign_upload(req)`` calls storage: only to create a multipart upload.

        A request that will be refused reads False: presign_upload refuses it before any
        storage call.
        """
        try:
            profile = self.settings.policy.profile(req.profile)
            return choose_strategy(profile, req.size_bytes, req.multipart) == "multipart"
        except SignerError:
            return False

    def presign_upload(self, req: PresignRequest, subject: str) -> PresignResponse:
        profile = self.settings.policy.profile(req.profile)
        ext = check_upload(
            profile, content_type=req.content_type, size_bytes=req.size_bytes, ext=req.ext
        )
        strategy = choose_strategy(profile, req.size_bytes, req.multipart)
        checksum = checksum_header(req.checksum_sha256) if req.checksum_sha256 else None
        if checksum and strategy == "multipart":
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                "checksum_sha256 applies to single PUT uploads, and this upload is multipart",
                hint="send multipart=off (up to 5 GiB), or leave checksum_sha256 out",
            )
        now = self._now()
        key, key_base = self._object_key(profile, ext, now, req.key_base)
        ttl = clamp_ttl(None, default=profile.put_ttl, ceiling=profile.ttl_max)
        required = dict(profile.required_headers)
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "sub": subject,
            "jti": jti,
            "bucket": self.settings.bucket,
            "object_key": key,
            "profile": profile.name,
            "mime": req.content_type,
            "size": req.size_bytes,
            "size_max": req.size_bytes,
            "strategy": strategy,
            "headers_required": required,
            "filename": req.filename,
        }
        upload: SingleUpload | MultipartUpload
        if strategy == "single":
            headers = {
                "Content-Type": req.content_type,
                "Content-Length": str(req.size_bytes),
                # Storage refuses a second PUT to the key: an upload URL writes once.
                "If-None-Match": "*",
                **({"x-amz-checksum-sha256": checksum} if checksum else {}),
                INTENT_HEADER: jti,
                **required,
            }
            url = self._sign("PUT", key, now=now, expires=ttl, headers=headers)
            upload = SingleUpload(url=url, headers=headers)
        else:
            part_size, part_count = plan_parts(req.size_bytes, profile.part_size)
            upload_id = self.storage.create_multipart(
                key, {"Content-Type": req.content_type, INTENT_HEADER: jti, **required}
            )
            claims.update(part_size=part_size, part_count=part_count, upload_id=upload_id)
            first = min(part_count, self.initial_parts)
            parts = [self._part_url(claims, n, now, ttl) for n in range(1, first + 1)]
            upload = MultipartUpload(
                upload_id=upload_id, part_size=part_size, part_count=part_count, parts=parts
            )
        return PresignResponse(
            object_key=key,
            key_base=key_base,
            strategy=strategy,
            expires_at=rfc3339(now + timedelta(seconds=ttl)),
            intent_token=self._issue(claims, profile, now),
            upload=upload,
            get_url=self._get_url(key, profile, req.filename, now),
        )

    def _object_key(
        self, profile: Profile, ext: str, now: datetime, key_base: str | None
    ) -> tuple[str, str]:
        return make_object_key(profile, ext=ext, now=now, uuid=self.new_key_id(), key_base=key_base)

    def presign_post(self, req: PresignPostRequest, subject: str) -> PresignPostResponse:
        profile = self.settings.policy.profile(req.profile)
        declared = req.size_bytes
        ext = check_upload(
            profile,
            content_type=req.content_type,
            size_bytes=declared if declared is not None else 0,
            ext=req.ext,
        )
        now = self._now()
        key, key_base = self._object_key(profile, ext, now, req.key_base)
        ttl = clamp_ttl(None, default=profile.put_ttl, ceiling=profile.ttl_max)
        high = declared if declared is not None else profile.size_max
        required = dict(profile.required_headers)
        jti = uuid.uuid4().hex
        s = self.settings
        url, fields = presign_post(
            endpoint=s.public_endpoint,
            bucket=s.bucket,
            key=key,
            access_key=s.access_key,
            secret_key=s.secret_key,
            region=s.region,
            now=now,
            expires=ttl,
            # Storage checks these against the form, so size and type are enforced by storage
            # itself even though a browser form cannot be made to send signed headers.
            conditions=[
                ["content-length-range", min(1, high), high],
                ["eq", "$Content-Type", req.content_type],
            ],
            fields={"Content-Type": req.content_type, INTENT_HEADER: jti, **required},
        )
        claims: dict[str, Any] = {
            "sub": subject,
            "jti": jti,
            "bucket": s.bucket,
            "object_key": key,
            "profile": profile.name,
            "mime": req.content_type,
            "size": declared,
            "size_max": high,
            "strategy": "post",
            "headers_required": required,
            "filename": req.filename,
        }
        return PresignPostResponse(
            object_key=key,
            key_base=key_base,
            expires_at=rfc3339(now + timedelta(seconds=ttl)),
            intent_token=self._issue(claims, profile, now),
            upload=PostUpload(url=url, fields=fields),
            get_url=self._get_url(key, profile, req.filename, now),
        )

    def sign_parts(self, req: PartsRequest, subject: str) -> PartsResponse:
        claims = self._claims(req.intent_token)
        if claims.get("strategy") != "multipart":
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                "this intent is not a multipart upload",
                hint="upload with the single URL the presign returned",
            )
        if len(set(req.part_numbers)) != len(req.part_numbers):
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                "part_numbers lists a part twice",
                hint="ask for each part number once",
            )
        profile = self._intent_profile(claims)
        now = self._now()
        ttl = clamp_ttl(None, default=profile.put_ttl, ceiling=profile.ttl_max)
        parts = [self._part_url(claims, n, now, ttl) for n in req.part_numbers]
        return PartsResponse(parts=parts, expires_at=rfc3339(now + timedelta(seconds=ttl)))

    def _part_list(self, claims: Mapping[str, Any], given: Sequence[CompletedPart] | None):
        key, upload_id = claims["object_key"], claims["upload_id"]
        if given is None:
            stored = self.storage.list_parts(key, upload_id)
            if not stored:
                raise SignerError(
                    ErrorCode.NOT_FOUND,
                    "no part of this upload is in storage yet",
                    hint="upload the parts with the URLs from presign first",
                )
            return [(p.part_number, p.etag) for p in stored]
        numbers = [p.part_number for p in given]
        if not given or numbers != sorted(set(numbers)):
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                "parts must list each part once, in ascending part_number order",
                hint="send [{part_number, etag}, ...] sorted by part_number, or omit parts",
            )
        if numbers[-1] > claims["part_count"]:
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                f"part {numbers[-1]} is beyond this upload's {claims['part_count']} parts",
                hint="send only the parts the presign planned",
            )
        return [(p.part_number, p.etag) for p in given]

    def complete(self, req: CompleteRequest, subject: str) -> CompleteResponse:
        claims = self._claims(req.intent_token)
        key = claims["object_key"]
        self._used(claims)
        if claims["strategy"] == "multipart":
            try:
                parts = self._part_list(claims, req.parts)
                # None (412): an object is already at the key: this upload, completed before
                # its record was written (the signer stopped in between), or another intent's
                # (a reused key_base). The intent check below tells which.
                self.storage.complete_multipart(key, claims["upload_id"], parts)
            except UploadGone:
                # Completed before, with no record written? Then the checks below finish it.
                if self.storage.stat(key) is None:
                    raise SignerError(
                        ErrorCode.NOT_FOUND,
                        "storage has no such multipart upload (aborted, or expired unfinished)",
                        hint="start a new upload",
                    ) from None
        elif req.parts is not None:
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                "parts are only for multipart uploads",
                hint="complete a single or form upload with just the intent_token",
            )
        stored = self.storage.stat(key)
        if stored is None:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                f"nothing has been uploaded to {key}",
                hint="upload the file with the URL from presign first, then complete",
            )
        if stored.metadata.get(INTENT_METADATA) != claims["jti"]:
            raise SignerError(
                ErrorCode.CONFLICT,
                f"the object at {key} was not uploaded with this intent",
                hint="another upload already used this key (the same key_base?); request a "
                "new upload intent with another key_base",
            )
        self._check_stored(claims, stored.size, stored.content_type)
        record = {
            "object_key": key,
            "size_bytes": stored.size,
            "completed_at": rfc3339(self._now()),
            "sub": subject,
        }
        if not self.storage.record_intent(claims["jti"], "completed", record):
            raise SignerError(
                ErrorCode.CONFLICT,
                "this upload intent was already completed",
                hint="an intent token is single-use; request a new upload intent",
            )
        profile = self._intent_profile(claims)
        return CompleteResponse(
            object_key=key,
            size_bytes=stored.size,
            etag=stored.etag,
            content_type=stored.content_type,
            get_url=self._get_url(key, profile, claims.get("filename"), self._now()),
        )

    def _check_stored(self, claims: Mapping[str, Any], size: int, content_type: str) -> None:
        """The stored object is what the intent allowed; otherwise delete it and say why."""
        key, declared, size_max = claims["object_key"], claims["size"], claims["size_max"]
        problem: SignerError | None = None
        if size > size_max or (claims["strategy"] == "single" and size > declared):
            problem = SignerError(
                ErrorCode.SIZE_TOO_LARGE,
                f"the uploaded object has {size} bytes; this intent allows at most {size_max}",
                hint="the object was deleted; upload the file that was declared",
            )
        elif claims["strategy"] == "single" and size != declared:
            problem = SignerError(
                ErrorCode.BAD_REQUEST,
                f"the uploaded object has {size} bytes but {declared} were declared",
                hint="the object was deleted; upload the file that was declared",
            )
        elif content_type != claims["mime"]:
            problem = SignerError(
                ErrorCode.MIME_NOT_ALLOWED,
                f"the uploaded object has Content-Type {content_type!r}, "
                f"not the declared {claims['mime']!r}",
                hint="the object was deleted; upload with exactly the signed headers",
            )
        if problem is not None:
            self.storage.remove(key)
            raise problem

    def abort(self, req: AbortRequest, subject: str) -> AbortResponse:
        claims = self._claims(req.intent_token)
        key = claims["object_key"]
        self._used(claims)
        if claims["strategy"] == "multipart":
            try:
                # MinIO answers 204 to aborting an unknown upload; listing tells if it exists.
                self.storage.list_parts(key, claims["upload_id"])
                self.storage.abort_multipart(key, claims["upload_id"])
            except UploadGone:
                stored = self.storage.stat(key)
                if stored is not None and stored.metadata.get(INTENT_METADATA) == claims["jti"]:
                    raise SignerError(
                        ErrorCode.CONFLICT,
                        "this upload was already completed",
                        hint="delete the object instead, if that is what you want",
                    ) from None
                raise SignerError(
                    ErrorCode.NOT_FOUND,
                    "storage has no such multipart upload (aborted, or expired unfinished)",
                    hint="nothing to abort",
                ) from None
        else:
            stored = self.storage.stat(key)
            if stored is not None and stored.metadata.get(INTENT_METADATA) == claims["jti"]:
                self.storage.remove(key)
        record = {"object_key": key, "aborted_at": rfc3339(self._now()), "sub": subject}
        if not self.storage.record_intent(claims["jti"], "aborted", record):
            raise SignerError(
                ErrorCode.CONFLICT,
                "this upload intent was already used",
                hint="an intent token is single-use; request a new upload intent",
            )
        return AbortResponse(object_key=key, aborted=True)

    def presign_download(self, req: DownloadRequest, subject: str) -> DownloadResponse:
        key = validate_object_key(req.object_key)
        if key.startswith(STATE_PREFIX):
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                f"keys under {STATE_PREFIX} are the signer's own records",
                hint="ask for an object an upload created",
            )
        profile = self._profile_for_key(key)
        ttl = clamp_ttl(req.ttl_seconds, default=profile.get_ttl, ceiling=profile.ttl_max)
        query = {"response-content-disposition": content_disposition(req.disposition, req.filename)}
        if req.response_content_type is not None:
            media = normalize_content_type(req.response_content_type)
            if media not in profile.mime_types:
                raise SignerError(
                    ErrorCode.MIME_NOT_ALLOWED,
                    f"response_content_type {media!r} is not allowed by profile {profile.name!r}",
                    hint=f"allowed types: {', '.join(sorted(profile.mime_types))}",
                )
            query["response-content-type"] = req.response_content_type
        if self.storage.stat(key) is None:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                f"no object {key}",
                hint="check the object_key the upload's complete returned",
            )
        now = self._now()
        url = self._sign("GET", key, now=now, expires=ttl, query=query)
        return DownloadResponse(url=url, expires_at=rfc3339(now + timedelta(seconds=ttl)))
