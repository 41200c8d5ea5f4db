"""The upload use-cases: presign an upload (one PUT, or a multipart upload), presign a browser
form upload, sign more part URLs, complete, abort.

Each is a ``UseCase`` (``signer.usecase``): a plan made without I/O, then ``execute``. Only a
multipart presign, complete and abort need storage; a single PUT, a form and part URLs are
only signed, so their whole request stays on the event loop.

Nothing is kept in memory between requests: what an upload may be travels in its signed
intent token (``signer.core.tokens.Intent``), and what must be remembered (that an intent was
completed or aborted) is written to storage as ``.minio-stack/intents/<id>`` with
``If-None-Match: *``, so any replica, or a restarted one, answers the same. Each upload also
stores its intent id as ``x-amz-meta-intent`` (a signed header, or a POST field), so complete
only ever judges (and deletes) an object that the same intent uploaded, never another one at
the same key.

Only complete writes an object key a client names. A single PUT and a form upload land on the
intent's own staging key (``signer.storage.staging_key``); complete checks what landed there
and promotes it to the object key with a copy that never overwrites (``Storage.promote``)
and that carries only the headers the signer chose. That is what makes uploads
tamper-proof where a presigned URL alone cannot: a POST policy cannot be made conditional
(storage honours no ``If-None-Match`` on a form), a URL works until it expires whatever
complete or abort did, and storage keeps headers a client added to a PUT without the
signature covering them. So, however a client uses what it holds: no upload overwrites an
object (another intent's, with a reused key_base, gets ``conflict``); nothing changes an
object after complete accepted it; an upload after abort only reaches a staging key, never
downloadable and never promoted; and a download serves the headers the signer set. A
multipart upload is created at the object key with the signer's headers (a part's headers
are never stored), its URLs die with it when it is completed or aborted, and it is
completed only with all its parts, ``If-None-Match: *``.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from signer.core import sigv4
from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import Profile, check_upload, choose_strategy, clamp_ttl, plan_parts
from signer.core.tokens import Intent, Parts
from signer.models import (
    AbortRequest,
    AbortResponse,
    CompletedPart,
    CompleteRequest,
    CompleteResponse,
    MultipartUpload,
    PartsRequest,
    PartsResponse,
    PostUpload,
    PresignPostRequest,
    PresignPostResponse,
    PresignRequest,
    PresignResponse,
    SingleUpload,
)
from signer.service import PER_PART_HEADER, SignerService, expires_at, rfc3339
from signer.storage import SourceChanged, StoredObject, UploadGone, staging_key
from signer.usecase import UseCase

# Stored with every upload (a signed header, a create header, a POST field): complete only
# ever judges, and deletes, an object that carries its own intent's id.
INTENT_HEADER = "x-amz-meta-intent"
INTENT_METADATA = "intent"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SINGLE_USE = "an intent token is single-use; request a new upload intent"


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


def _put_ttl(profile: Profile) -> int:
    return clamp_ttl(None, default=profile.put_ttl, ceiling=profile.ttl_max)


# --- presign an upload: one PUT, or a multipart upload created on storage ---------------------


@dataclass(frozen=True)
class MultipartPlan:
    """How a multipart upload is split, and the headers storage must create it with."""

    size: int
    part_size: int
    part_count: int
    create_headers: Mapping[str, str]


@dataclass(frozen=True)
class UploadPlan:
    """A presign decided: the intent (key, type, size, strategy, headers), when and for how
    long its URLs are signed, and, for a multipart upload, the upload storage must create."""

    intent: Intent
    profile: Profile
    key_base: str
    now: datetime
    ttl: int
    checksum: str | None
    multipart: MultipartPlan | None

    @property
    def needs_storage(self) -> bool:
        return self.multipart is not None


def plan_upload(service: SignerService, req: PresignRequest, subject: str) -> UploadPlan:
    profile = service.settings.policy.profile(req.profile)
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
    now = service.now()
    key, key_base = service.object_key(profile, ext, now, req.key_base)
    intent = Intent(
        id=uuid.uuid4().hex,
        subject=subject,
        bucket=service.settings.bucket,
        object_key=key,
        profile=profile.name,
        content_type=req.content_type,
        size=req.size_bytes,
        size_max=req.size_bytes,
        strategy=strategy,
        required_headers=dict(profile.required_headers),
        filename=req.filename,
    )
    multipart = None
    if strategy == "multipart":
        part_size, part_count = plan_parts(req.size_bytes, profile.part_size)
        multipart = MultipartPlan(req.size_bytes, part_size, part_count, _object_headers(intent))
    return UploadPlan(intent, profile, key_base, now, _put_ttl(profile), checksum, multipart)


def execute_upload(service: SignerService, plan: UploadPlan) -> PresignResponse:
    upload: SingleUpload | MultipartUpload
    if plan.multipart is None:
        intent, upload = plan.intent, _single_upload(service, plan)
    else:
        intent, upload = _multipart_upload(service, plan, plan.multipart)
    return PresignResponse(
        object_key=intent.object_key,
        key_base=plan.key_base,
        strategy="single" if plan.multipart is None else "multipart",
        expires_at=expires_at(plan.now, plan.ttl),
        intent_token=service.issue(intent, plan.profile, plan.now),
        upload=upload,
        get_url=_get_url(service, intent, plan.profile, plan.now),
    )


def _get_url(service: SignerService, intent: Intent, profile: Profile, now: datetime) -> str:
    return service.get_url(intent.object_key, profile, intent.filename, intent.content_type, now)


def _object_headers(intent: Intent) -> dict[str, str]:
    """What the object at the intent's key is stored with: the declared type, the intent's
    id, the profile's required headers (SSE). Nothing else, whatever the uploader sent."""
    return {
        "Content-Type": intent.content_type,
        INTENT_HEADER: intent.id,
        **intent.required_headers,
    }


def _single_upload(service: SignerService, plan: UploadPlan) -> SingleUpload:
    intent = plan.intent
    headers = {
        "Content-Type": intent.content_type,
        "Content-Length": str(intent.size),
        # Storage refuses a second PUT to the key: an upload URL writes once.
        "If-None-Match": "*",
        **({"x-amz-checksum-sha256": plan.checksum} if plan.checksum else {}),
        INTENT_HEADER: intent.id,
        **intent.required_headers,
    }
    url = service.sign(
        "PUT", staging_key(intent.id), now=plan.now, expires=plan.ttl, headers=headers
    )
    return SingleUpload(url=url, headers=headers)


def _multipart_upload(
    service: SignerService, plan: UploadPlan, split: MultipartPlan
) -> tuple[Intent, MultipartUpload]:
    """Create the upload on storage; the intent that now names it, and its first part URLs."""
    upload_id = service.storage.create_multipart(plan.intent.object_key, split.create_headers)
    parts = Parts(upload_id=upload_id, part_size=split.part_size, part_count=split.part_count)
    intent = replace(plan.intent, parts=parts)
    urls = [
        service.part_url(intent, split.size, parts, number, plan.now, plan.ttl)
        for number in range(1, min(parts.part_count, service.initial_parts) + 1)
    ]
    upload = MultipartUpload(
        upload_id=upload_id, part_size=parts.part_size, part_count=parts.part_count, parts=urls
    )
    return intent, upload


presign_upload = UseCase(plan=plan_upload, execute=execute_upload)


# --- presign a browser form upload (POST policy) ---------------------------------------------


@dataclass(frozen=True)
class PostPlan:
    """A form upload decided: the intent, and when and for how long its policy is signed."""

    intent: Intent
    profile: Profile
    key_base: str
    now: datetime
    ttl: int

    @property
    def needs_storage(self) -> bool:
        return False


def plan_post(service: SignerService, req: PresignPostRequest, subject: str) -> PostPlan:
    profile = service.settings.policy.profile(req.profile)
    declared = req.size_bytes
    ext = check_upload(
        profile,
        content_type=req.content_type,
        size_bytes=declared if declared is not None else 0,
        ext=req.ext,
    )
    now = service.now()
    key, key_base = service.object_key(profile, ext, now, req.key_base)
    intent = Intent(
        id=uuid.uuid4().hex,
        subject=subject,
        bucket=service.settings.bucket,
        object_key=key,
        profile=profile.name,
        content_type=req.content_type,
        size=declared,
        size_max=declared if declared is not None else profile.size_max,
        strategy="post",
        required_headers=dict(profile.required_headers),
        filename=req.filename,
    )
    return PostPlan(intent, profile, key_base, now, _put_ttl(profile))


def execute_post(service: SignerService, plan: PostPlan) -> PresignPostResponse:
    intent, s = plan.intent, service.settings
    high = intent.size_max
    url, fields = sigv4.presign_post(
        endpoint=s.public_endpoint,
        bucket=s.bucket,
        key=staging_key(intent.id),
        access_key=s.access_key,
        secret_key=s.secret_key,
        region=s.region,
        now=plan.now,
        expires=plan.ttl,
        # Storage checks these against the form, so size and type are enforced by storage
        # itself even though a browser form cannot be made to send signed headers.
        conditions=[
            ["content-length-range", min(1, high), high],
            ["eq", "$Content-Type", intent.content_type],
        ],
        fields={
            "Content-Type": intent.content_type,
            INTENT_HEADER: intent.id,
            **intent.required_headers,
        },
    )
    return PresignPostResponse(
        object_key=intent.object_key,
        key_base=plan.key_base,
        expires_at=expires_at(plan.now, plan.ttl),
        intent_token=service.issue(intent, plan.profile, plan.now),
        upload=PostUpload(url=url, fields=fields),
        get_url=_get_url(service, intent, plan.profile, plan.now),
    )


presign_post = UseCase(plan=plan_post, execute=execute_post)


# --- sign more part URLs ----------------------------------------------------------------------


@dataclass(frozen=True)
class PartsPlan:
    """Part URLs to sign for a multipart intent, when and for how long."""

    intent: Intent
    size: int
    parts: Parts
    numbers: tuple[int, ...]
    now: datetime
    ttl: int

    @property
    def needs_storage(self) -> bool:
        return False


def plan_sign_parts(service: SignerService, req: PartsRequest, subject: str) -> PartsPlan:
    intent = service.read_intent(req.intent_token)
    # A multipart intent always carries its parts and its exact size (Intent.from_claims).
    if intent.parts is None or intent.size is None:
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
    ttl = _put_ttl(service.intent_profile(intent))
    numbers = tuple(req.part_numbers)
    return PartsPlan(intent, intent.size, intent.parts, numbers, service.now(), ttl)


def execute_sign_parts(service: SignerService, plan: PartsPlan) -> PartsResponse:
    urls = [
        service.part_url(plan.intent, plan.size, plan.parts, number, plan.now, plan.ttl)
        for number in plan.numbers
    ]
    return PartsResponse(parts=urls, expires_at=expires_at(plan.now, plan.ttl))


sign_parts = UseCase(plan=plan_sign_parts, execute=execute_sign_parts)


# --- complete ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletePlan:
    """An intent to complete for ``subject``, with the client's part list if it sent one. All
    the rest happens on storage, where the upload and the intent's used-or-not record are."""

    intent: Intent
    subject: str
    parts: tuple[CompletedPart, ...] | None

    @property
    def needs_storage(self) -> bool:
        return True


def plan_complete(service: SignerService, req: CompleteRequest, subject: str) -> CompletePlan:
    parts = tuple(req.parts) if req.parts is not None else None
    return CompletePlan(service.read_intent(req.intent_token), subject, parts)


def execute_complete(service: SignerService, plan: CompletePlan) -> CompleteResponse:
    intent = plan.intent
    key = intent.object_key
    _check_unused(service, intent)
    if intent.parts is not None:
        _complete_multipart(service, intent, intent.parts, plan.parts)
    elif plan.parts is not None:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "parts are only for multipart uploads",
            hint="complete a single or form upload with just the intent_token",
        )
    else:
        _promote(service, intent)
    stored = _own_object(service, intent)
    _check_stored(service, intent, stored)
    record = {
        "object_key": key,
        "size_bytes": stored.size,
        "completed_at": rfc3339(service.now()),
        "sub": plan.subject,
    }
    if not service.storage.record_intent(intent.id, "completed", record):
        _lost_the_record(service, intent)
    profile = service.intent_profile(intent)
    return CompleteResponse(
        object_key=key,
        size_bytes=stored.size,
        etag=stored.etag,
        content_type=stored.content_type,
        get_url=_get_url(service, intent, profile, service.now()),
    )


def _check_unused(service: SignerService, intent: Intent) -> None:
    state = service.storage.intent_state(intent.id)
    if state is not None:
        raise SignerError(
            ErrorCode.CONFLICT, f"this upload intent was already {state}", hint=_SINGLE_USE
        )


def _lost_the_record(service: SignerService, intent: Intent) -> None:
    """Another call used the intent while this complete ran. If it was an abort, the object
    this complete stored goes too: abort records first, then removes, so whichever of the two
    ran last, no object outlives its abort."""
    state = service.storage.intent_state(intent.id) or "completed"
    if state == "aborted":
        service.storage.remove(intent.object_key)
    raise SignerError(
        ErrorCode.CONFLICT, f"this upload intent was already {state}", hint=_SINGLE_USE
    )


def _promote(service: SignerService, intent: Intent) -> None:
    """Move a single or form upload from its staging key to its object key, if it is what
    the intent allowed (else it is deleted, and the answer says why).

    Nothing staged: nothing was uploaded, or an earlier complete promoted it and stopped
    before writing its record; ``_own_object`` tells which next. The promotion never
    overwrites: when an object already is at the key (this intent's, promoted before, or
    another intent's with a reused key_base, which ``_own_object`` answers with
    ``conflict``), nothing moves. Either way the staged object is of no more use and goes.
    """
    staged = service.storage.stat(staging_key(intent.id))
    if staged is None:
        return
    _check_stored(service, intent, staged)
    copy_headers = {
        name: value
        for name, value in intent.required_headers.items()
        if name.startswith(PER_PART_HEADER)
    }
    # The staged object is encrypted with the same SSE-C key the copy encrypts with.
    copy_headers.update(
        {f"x-amz-copy-source-{name.removeprefix('x-amz-')}": v for name, v in copy_headers.items()}
    )
    try:
        service.storage.promote(staged, intent.object_key, _object_headers(intent), copy_headers)
    except SourceChanged:
        _check_unused(service, intent)  # an abort removed it meanwhile?
        raise SignerError(
            ErrorCode.CONFLICT,
            "the upload changed while it was being completed (it was sent again)",
            hint="complete again once the upload has finished",
        ) from None
    service.storage.remove(staged.key)


def _complete_multipart(
    service: SignerService, intent: Intent, parts: Parts, given: Sequence[CompletedPart] | None
) -> None:
    key = intent.object_key
    try:
        part_list = _part_list(service, key, parts, given)
        # None (412): an object is already at the key: this upload, completed before its
        # record was written (the signer stopped in between), or another intent's (a reused
        # key_base). The intent check that follows tells which.
        service.storage.complete_multipart(key, parts.upload_id, part_list)
    except UploadGone:
        # Completed before, with no record written? Then the checks that follow finish it.
        if service.storage.stat(key) is None:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                "storage has no such multipart upload (aborted, or expired unfinished)",
                hint="start a new upload",
            ) from None


def _part_list(
    service: SignerService, key: str, parts: Parts, given: Sequence[CompletedPart] | None
) -> list[tuple[int, str]]:
    """(number, ETag) of every part: the client's list, checked, or storage's."""
    if given is None:
        stored = service.storage.list_parts(key, parts.upload_id)
        if not stored:
            raise SignerError(
                ErrorCode.NOT_FOUND,
                "no part of this upload is in storage yet",
                hint="upload the parts with the URLs from presign first",
            )
        _check_every_part(parts, [p.part_number for p in stored], "have not been uploaded")
        return [(p.part_number, p.etag) for p in stored]
    numbers = [p.part_number for p in given]
    if not given or numbers != sorted(set(numbers)):
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "parts must list each part once, in ascending part_number order",
            hint="send [{part_number, etag}, ...] sorted by part_number, or omit parts",
        )
    if numbers[-1] > parts.part_count:
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"part {numbers[-1]} is beyond this upload's {parts.part_count} parts",
            hint="send only the parts the presign planned",
        )
    _check_every_part(parts, numbers, "are missing from parts")
    return [(p.part_number, p.etag) for p in given]


def _check_every_part(parts: Parts, numbers: Sequence[int], missing_means: str) -> None:
    """A multipart upload completes with all its parts or not at all: each part URL signs the
    part's exact length, so all of them make exactly the declared size, and fewer would make
    a smaller object than the intent declared. Refused before completing, so the upload
    stays and the client can send what is missing and complete again."""
    missing = sorted(set(range(1, parts.part_count + 1)) - set(numbers))
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            f"parts {shown} of this upload's {parts.part_count} {missing_means}: the object "
            "would be smaller than declared",
            hint="upload every part (ask /v1/uploads/parts for URLs), then complete again",
        )


def _own_object(service: SignerService, intent: Intent) -> StoredObject:
    """The object at the intent's key, if this intent uploaded it."""
    key = intent.object_key
    stored = service.storage.stat(key)
    if stored is None:
        raise SignerError(
            ErrorCode.NOT_FOUND,
            f"nothing has been uploaded to {key}",
            hint="upload the file with the URL from presign first, then complete",
        )
    if stored.metadata.get(INTENT_METADATA) != intent.id:
        raise SignerError(
            ErrorCode.CONFLICT,
            f"the object at {key} was not uploaded with this intent",
            hint="another upload already used this key (the same key_base?); request a "
            "new upload intent with another key_base",
        )
    return stored


def _check_stored(service: SignerService, intent: Intent, stored: StoredObject) -> None:
    """The stored object (staged, or at the intent's key) is what the intent allowed;
    otherwise delete it and say why."""
    size, size_max = stored.size, intent.size_max
    # A single PUT and a multipart upload declared their exact size; a form may hold up to
    # size_max.
    declared = intent.size if intent.strategy != "post" else None
    problem: SignerError | None = None
    if size > size_max or (declared is not None and size > declared):
        problem = SignerError(
            ErrorCode.SIZE_TOO_LARGE,
            f"the uploaded object has {size} bytes; this intent allows at most {size_max}",
            hint="the object was deleted; upload the file that was declared",
        )
    elif declared is not None and size != declared:
        problem = SignerError(
            ErrorCode.BAD_REQUEST,
            f"the uploaded object has {size} bytes but {declared} were declared",
            hint="the object was deleted; upload the file that was declared",
        )
    elif stored.content_type != intent.content_type:
        problem = SignerError(
            ErrorCode.MIME_NOT_ALLOWED,
            f"the uploaded object has Content-Type {stored.content_type!r}, "
            f"not the declared {intent.content_type!r}",
            hint="the object was deleted; upload with exactly the signed headers",
        )
    if problem is not None:
        service.storage.remove(stored.key)
        raise problem


complete_upload = UseCase(plan=plan_complete, execute=execute_complete)


# --- abort ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AbortPlan:
    """An intent to abort for ``subject``: all of it happens on storage (see CompletePlan)."""

    intent: Intent
    subject: str

    @property
    def needs_storage(self) -> bool:
        return True


def plan_abort(service: SignerService, req: AbortRequest, subject: str) -> AbortPlan:
    return AbortPlan(service.read_intent(req.intent_token), subject)


def execute_abort(service: SignerService, plan: AbortPlan) -> AbortResponse:
    intent = plan.intent
    key = intent.object_key
    _check_unused(service, intent)
    if intent.parts is not None:
        _abort_multipart(service, intent, intent.parts)
        _record_abort(service, intent, plan.subject)
    else:
        # Recorded first, then removed: a complete running meanwhile finds the intent
        # aborted when it records, and removes what it promoted (_lost_the_record). The URL
        # still works until it expires, but it only reaches the staging key, which is never
        # downloadable and never promoted now.
        _record_abort(service, intent, plan.subject)
        service.storage.remove(staging_key(intent.id))
        stored = service.storage.stat(key)
        if stored is not None and stored.metadata.get(INTENT_METADATA) == intent.id:
            service.storage.remove(key)
    return AbortResponse(object_key=key, aborted=True)


def _record_abort(service: SignerService, intent: Intent, subject: str) -> None:
    record = {
        "object_key": intent.object_key,
        "aborted_at": rfc3339(service.now()),
        "sub": subject,
    }
    if not service.storage.record_intent(intent.id, "aborted", record):
        raise SignerError(
            ErrorCode.CONFLICT, "this upload intent was already used", hint=_SINGLE_USE
        )


def _abort_multipart(service: SignerService, intent: Intent, parts: Parts) -> None:
    key = intent.object_key
    try:
        # MinIO answers 204 to aborting an unknown upload; listing tells if it exists.
        service.storage.list_parts(key, parts.upload_id)
        service.storage.abort_multipart(key, parts.upload_id)
    except UploadGone:
        stored = service.storage.stat(key)
        if stored is not None and stored.metadata.get(INTENT_METADATA) == intent.id:
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


abort_upload = UseCase(plan=plan_abort, execute=execute_abort)
